from __future__ import annotations

from pkgutil import extend_path
__path__ = extend_path(__path__, __name__)

import abc
import builtins
import datetime
import enum
import typing

import jsii
import publication
import typing_extensions

from jsii._type_checking import cached_type_hints, check_type


from ._jsii import *

class _LazyImport:
    def __init__(self, module_name: str) -> None:
        self._module_name = module_name
        self._module: typing.Any = None
    def __getattr__(self, name: str) -> typing.Any:
        if self._module is None:
            import importlib
            self._module = importlib.import_module(self._module_name)
        return getattr(self._module, name)

if typing.TYPE_CHECKING:

    import cdk8s as _cdk8s_d3d9af27
    import constructs as _constructs_77d1e7e8
else:

    _cdk8s_d3d9af27 = _LazyImport("cdk8s")
    _constructs_77d1e7e8 = _LazyImport("constructs")


class DatabaseRole(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="cnpg_databaserole_iocnpgpostgresql.DatabaseRole",
):
    '''DatabaseRole is the Schema for the databaseroles API.

    :schema: DatabaseRole
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]],
        spec: typing.Union["DatabaseRoleSpec", typing.Dict[builtins.str, typing.Any]],
    ) -> None:
        '''Defines a "DatabaseRole" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Specification of the desired DatabaseRole. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e65d8b2a9ef815242c201f91b2e2bdd5d188ab15368a0a085f19a70750ad0277)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = DatabaseRoleProps(metadata=metadata, spec=spec)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]],
        spec: typing.Union["DatabaseRoleSpec", typing.Dict[builtins.str, typing.Any]],
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "DatabaseRole".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Specification of the desired DatabaseRole. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status
        '''
        props = DatabaseRoleProps(metadata=metadata, spec=spec)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "DatabaseRole".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="cnpg_databaserole_iocnpgpostgresql.DatabaseRoleProps",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class DatabaseRoleProps:
    def __init__(
        self,
        *,
        metadata: typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]],
        spec: typing.Union["DatabaseRoleSpec", typing.Dict[builtins.str, typing.Any]],
    ) -> None:
        '''DatabaseRole is the Schema for the databaseroles API.

        :param metadata: 
        :param spec: Specification of the desired DatabaseRole. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status

        :schema: DatabaseRole
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = DatabaseRoleSpec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__0496076a486877b00072297764e48873a50bec4c1960e80b198c710a23ac12d7)
            check_type(argname="argument metadata", value=metadata, expected_type=type_hints["metadata"])
            check_type(argname="argument spec", value=spec, expected_type=type_hints["spec"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "metadata": metadata,
            "spec": spec,
        }

    @builtins.property
    def metadata(self) -> "_cdk8s_d3d9af27.ApiObjectMetadata":
        '''
        :schema: DatabaseRole#metadata
        '''
        result = self._values.get("metadata")
        assert result is not None, "Required property 'metadata' is missing"
        return typing.cast("_cdk8s_d3d9af27.ApiObjectMetadata", result)

    @builtins.property
    def spec(self) -> "DatabaseRoleSpec":
        '''Specification of the desired DatabaseRole.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status

        :schema: DatabaseRole#spec
        '''
        result = self._values.get("spec")
        assert result is not None, "Required property 'spec' is missing"
        return typing.cast("DatabaseRoleSpec", result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DatabaseRoleProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="cnpg_databaserole_iocnpgpostgresql.DatabaseRoleSpec",
    jsii_struct_bases=[],
    name_mapping={
        "cluster": "cluster",
        "name": "name",
        "bypassrls": "bypassrls",
        "client_certificate": "clientCertificate",
        "comment": "comment",
        "connection_limit": "connectionLimit",
        "createdb": "createdb",
        "createrole": "createrole",
        "database_role_reclaim_policy": "databaseRoleReclaimPolicy",
        "disable_password": "disablePassword",
        "ensure": "ensure",
        "inherit": "inherit",
        "in_roles": "inRoles",
        "login": "login",
        "password_secret": "passwordSecret",
        "replication": "replication",
        "superuser": "superuser",
        "valid_until": "validUntil",
    },
)
class DatabaseRoleSpec:
    def __init__(
        self,
        *,
        cluster: typing.Union["DatabaseRoleSpecCluster", typing.Dict[builtins.str, typing.Any]],
        name: builtins.str,
        bypassrls: typing.Optional[builtins.bool] = None,
        client_certificate: typing.Optional[typing.Union["DatabaseRoleSpecClientCertificate", typing.Dict[builtins.str, typing.Any]]] = None,
        comment: typing.Optional[builtins.str] = None,
        connection_limit: typing.Optional[jsii.Number] = None,
        createdb: typing.Optional[builtins.bool] = None,
        createrole: typing.Optional[builtins.bool] = None,
        database_role_reclaim_policy: typing.Optional["DatabaseRoleSpecDatabaseRoleReclaimPolicy"] = None,
        disable_password: typing.Optional[builtins.bool] = None,
        ensure: typing.Optional["DatabaseRoleSpecEnsure"] = None,
        inherit: typing.Optional[builtins.bool] = None,
        in_roles: typing.Optional[typing.Sequence[builtins.str]] = None,
        login: typing.Optional[builtins.bool] = None,
        password_secret: typing.Optional[typing.Union["DatabaseRoleSpecPasswordSecret", typing.Dict[builtins.str, typing.Any]]] = None,
        replication: typing.Optional[builtins.bool] = None,
        superuser: typing.Optional[builtins.bool] = None,
        valid_until: typing.Optional[datetime.datetime] = None,
    ) -> None:
        '''Specification of the desired DatabaseRole.

        More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status

        :param cluster: The corresponding cluster.
        :param name: Name of the role.
        :param bypassrls: Whether a role bypasses every row-level security (RLS) policy. Default is ``false``. Default: false`.
        :param client_certificate: ClientCertificate configures the operator to generate and renew a TLS client certificate for this role, signed by the cluster's client CA. The certificate is stored in a Secret named ``<databaserole-name>-client-cert``. Requires login to be true.
        :param comment: Description of the role.
        :param connection_limit: If the role can log in, this specifies how many concurrent connections the role can make. ``-1`` (the default) means no limit.
        :param createdb: When set to ``true``, the role being defined will be allowed to create new databases. Specifying ``false`` (default) will deny a role the ability to create databases.
        :param createrole: Whether the role will be permitted to create, alter, drop, comment on, change the security label for, and grant or revoke membership in other roles. Default is ``false``. Default: false`.
        :param database_role_reclaim_policy: The policy for end-of-life maintenance of this role.
        :param disable_password: DisablePassword indicates that a role's password should be set to NULL in Postgres.
        :param ensure: Ensure the role is ``present`` or ``absent`` - defaults to "present".
        :param inherit: Whether a role "inherits" the privileges of roles it is a member of. Default is ``true``. Default: true`.
        :param in_roles: List of one or more existing roles to which this role will be immediately added as a new member. Default empty. Changes to the list are applied to an existing role through ``GRANT`` and ``REVOKE`` statements, not only at role creation.
        :param login: Whether the role is allowed to log in. A role having the ``login`` attribute can be thought of as a user. Roles without this attribute are useful for managing database privileges, but are not users in the usual sense of the word. Default is ``false``. Default: false`.
        :param password_secret: Secret containing the password of the role (if present). If null, the password will be ignored unless DisablePassword is set. When set, the secret must follow the ``kubernetes.io/basic-auth`` format and contain both a ``username`` and a ``password`` field.
        :param replication: Whether a role is a replication role. A role must have this attribute (or be a superuser) in order to be able to connect to the server in replication mode (physical or logical replication) and in order to be able to create or drop replication slots. A role having the ``replication`` attribute is a very highly privileged role, and should only be used on roles actually used for replication. Default is ``false``. Default: false`.
        :param superuser: Whether the role is a ``superuser`` who can override all access restrictions within the database - superuser status is dangerous and should be used only when really needed. You must yourself be a superuser to create a new superuser. Defaults is ``false``. Default: false`.
        :param valid_until: Date and time after which the role's password is no longer valid. When omitted, the password will never expire (default).

        :schema: DatabaseRoleSpec
        '''
        if isinstance(cluster, dict):
            cluster = DatabaseRoleSpecCluster(**cluster)
        if isinstance(client_certificate, dict):
            client_certificate = DatabaseRoleSpecClientCertificate(**client_certificate)
        if isinstance(password_secret, dict):
            password_secret = DatabaseRoleSpecPasswordSecret(**password_secret)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__f387ce897d855b6c6574faa8a56fd2c13e846a5fc7cc04255ccd857a7dfe8cdb)
            check_type(argname="argument cluster", value=cluster, expected_type=type_hints["cluster"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument bypassrls", value=bypassrls, expected_type=type_hints["bypassrls"])
            check_type(argname="argument client_certificate", value=client_certificate, expected_type=type_hints["client_certificate"])
            check_type(argname="argument comment", value=comment, expected_type=type_hints["comment"])
            check_type(argname="argument connection_limit", value=connection_limit, expected_type=type_hints["connection_limit"])
            check_type(argname="argument createdb", value=createdb, expected_type=type_hints["createdb"])
            check_type(argname="argument createrole", value=createrole, expected_type=type_hints["createrole"])
            check_type(argname="argument database_role_reclaim_policy", value=database_role_reclaim_policy, expected_type=type_hints["database_role_reclaim_policy"])
            check_type(argname="argument disable_password", value=disable_password, expected_type=type_hints["disable_password"])
            check_type(argname="argument ensure", value=ensure, expected_type=type_hints["ensure"])
            check_type(argname="argument inherit", value=inherit, expected_type=type_hints["inherit"])
            check_type(argname="argument in_roles", value=in_roles, expected_type=type_hints["in_roles"])
            check_type(argname="argument login", value=login, expected_type=type_hints["login"])
            check_type(argname="argument password_secret", value=password_secret, expected_type=type_hints["password_secret"])
            check_type(argname="argument replication", value=replication, expected_type=type_hints["replication"])
            check_type(argname="argument superuser", value=superuser, expected_type=type_hints["superuser"])
            check_type(argname="argument valid_until", value=valid_until, expected_type=type_hints["valid_until"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "cluster": cluster,
            "name": name,
        }
        if bypassrls is not None:
            self._values["bypassrls"] = bypassrls
        if client_certificate is not None:
            self._values["client_certificate"] = client_certificate
        if comment is not None:
            self._values["comment"] = comment
        if connection_limit is not None:
            self._values["connection_limit"] = connection_limit
        if createdb is not None:
            self._values["createdb"] = createdb
        if createrole is not None:
            self._values["createrole"] = createrole
        if database_role_reclaim_policy is not None:
            self._values["database_role_reclaim_policy"] = database_role_reclaim_policy
        if disable_password is not None:
            self._values["disable_password"] = disable_password
        if ensure is not None:
            self._values["ensure"] = ensure
        if inherit is not None:
            self._values["inherit"] = inherit
        if in_roles is not None:
            self._values["in_roles"] = in_roles
        if login is not None:
            self._values["login"] = login
        if password_secret is not None:
            self._values["password_secret"] = password_secret
        if replication is not None:
            self._values["replication"] = replication
        if superuser is not None:
            self._values["superuser"] = superuser
        if valid_until is not None:
            self._values["valid_until"] = valid_until

    @builtins.property
    def cluster(self) -> "DatabaseRoleSpecCluster":
        '''The corresponding cluster.

        :schema: DatabaseRoleSpec#cluster
        '''
        result = self._values.get("cluster")
        assert result is not None, "Required property 'cluster' is missing"
        return typing.cast("DatabaseRoleSpecCluster", result)

    @builtins.property
    def name(self) -> builtins.str:
        '''Name of the role.

        :schema: DatabaseRoleSpec#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def bypassrls(self) -> typing.Optional[builtins.bool]:
        '''Whether a role bypasses every row-level security (RLS) policy.

        Default is ``false``.

        :default: false`.

        :schema: DatabaseRoleSpec#bypassrls
        '''
        result = self._values.get("bypassrls")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def client_certificate(
        self,
    ) -> typing.Optional["DatabaseRoleSpecClientCertificate"]:
        '''ClientCertificate configures the operator to generate and renew a TLS client certificate for this role, signed by the cluster's client CA.

        The certificate
        is stored in a Secret named ``<databaserole-name>-client-cert``.
        Requires login to be true.

        :schema: DatabaseRoleSpec#clientCertificate
        '''
        result = self._values.get("client_certificate")
        return typing.cast(typing.Optional["DatabaseRoleSpecClientCertificate"], result)

    @builtins.property
    def comment(self) -> typing.Optional[builtins.str]:
        '''Description of the role.

        :schema: DatabaseRoleSpec#comment
        '''
        result = self._values.get("comment")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def connection_limit(self) -> typing.Optional[jsii.Number]:
        '''If the role can log in, this specifies how many concurrent connections the role can make.

        ``-1`` (the default) means no limit.

        :schema: DatabaseRoleSpec#connectionLimit
        '''
        result = self._values.get("connection_limit")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def createdb(self) -> typing.Optional[builtins.bool]:
        '''When set to ``true``, the role being defined will be allowed to create new databases.

        Specifying ``false`` (default) will deny a role the
        ability to create databases.

        :schema: DatabaseRoleSpec#createdb
        '''
        result = self._values.get("createdb")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def createrole(self) -> typing.Optional[builtins.bool]:
        '''Whether the role will be permitted to create, alter, drop, comment on, change the security label for, and grant or revoke membership in other roles.

        Default is ``false``.

        :default: false`.

        :schema: DatabaseRoleSpec#createrole
        '''
        result = self._values.get("createrole")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def database_role_reclaim_policy(
        self,
    ) -> typing.Optional["DatabaseRoleSpecDatabaseRoleReclaimPolicy"]:
        '''The policy for end-of-life maintenance of this role.

        :schema: DatabaseRoleSpec#databaseRoleReclaimPolicy
        '''
        result = self._values.get("database_role_reclaim_policy")
        return typing.cast(typing.Optional["DatabaseRoleSpecDatabaseRoleReclaimPolicy"], result)

    @builtins.property
    def disable_password(self) -> typing.Optional[builtins.bool]:
        '''DisablePassword indicates that a role's password should be set to NULL in Postgres.

        :schema: DatabaseRoleSpec#disablePassword
        '''
        result = self._values.get("disable_password")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def ensure(self) -> typing.Optional["DatabaseRoleSpecEnsure"]:
        '''Ensure the role is ``present`` or ``absent`` - defaults to "present".

        :schema: DatabaseRoleSpec#ensure
        '''
        result = self._values.get("ensure")
        return typing.cast(typing.Optional["DatabaseRoleSpecEnsure"], result)

    @builtins.property
    def inherit(self) -> typing.Optional[builtins.bool]:
        '''Whether a role "inherits" the privileges of roles it is a member of.

        Default is ``true``.

        :default: true`.

        :schema: DatabaseRoleSpec#inherit
        '''
        result = self._values.get("inherit")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def in_roles(self) -> typing.Optional[typing.List[builtins.str]]:
        '''List of one or more existing roles to which this role will be immediately added as a new member.

        Default empty.
        Changes to the list are applied to an existing role through
        ``GRANT`` and ``REVOKE`` statements, not only at role creation.

        :schema: DatabaseRoleSpec#inRoles
        '''
        result = self._values.get("in_roles")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def login(self) -> typing.Optional[builtins.bool]:
        '''Whether the role is allowed to log in.

        A role having the ``login``
        attribute can be thought of as a user. Roles without this attribute
        are useful for managing database privileges, but are not users in
        the usual sense of the word. Default is ``false``.

        :default: false`.

        :schema: DatabaseRoleSpec#login
        '''
        result = self._values.get("login")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def password_secret(self) -> typing.Optional["DatabaseRoleSpecPasswordSecret"]:
        '''Secret containing the password of the role (if present).

        If null, the password will be ignored unless DisablePassword is set.
        When set, the secret must follow the ``kubernetes.io/basic-auth`` format
        and contain both a ``username`` and a ``password`` field.

        :schema: DatabaseRoleSpec#passwordSecret
        '''
        result = self._values.get("password_secret")
        return typing.cast(typing.Optional["DatabaseRoleSpecPasswordSecret"], result)

    @builtins.property
    def replication(self) -> typing.Optional[builtins.bool]:
        '''Whether a role is a replication role.

        A role must have this
        attribute (or be a superuser) in order to be able to connect to the
        server in replication mode (physical or logical replication) and in
        order to be able to create or drop replication slots. A role having
        the ``replication`` attribute is a very highly privileged role, and
        should only be used on roles actually used for replication. Default
        is ``false``.

        :default: false`.

        :schema: DatabaseRoleSpec#replication
        '''
        result = self._values.get("replication")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def superuser(self) -> typing.Optional[builtins.bool]:
        '''Whether the role is a ``superuser`` who can override all access restrictions within the database - superuser status is dangerous and should be used only when really needed.

        You must yourself be a
        superuser to create a new superuser. Defaults is ``false``.

        :default: false`.

        :schema: DatabaseRoleSpec#superuser
        '''
        result = self._values.get("superuser")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def valid_until(self) -> typing.Optional[datetime.datetime]:
        '''Date and time after which the role's password is no longer valid.

        When omitted, the password will never expire (default).

        :schema: DatabaseRoleSpec#validUntil
        '''
        result = self._values.get("valid_until")
        return typing.cast(typing.Optional[datetime.datetime], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DatabaseRoleSpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="cnpg_databaserole_iocnpgpostgresql.DatabaseRoleSpecClientCertificate",
    jsii_struct_bases=[],
    name_mapping={"enabled": "enabled"},
)
class DatabaseRoleSpecClientCertificate:
    def __init__(self, *, enabled: typing.Optional[builtins.bool] = None) -> None:
        '''ClientCertificate configures the operator to generate and renew a TLS client certificate for this role, signed by the cluster's client CA.

        The certificate
        is stored in a Secret named ``<databaserole-name>-client-cert``.
        Requires login to be true.

        :param enabled: Enabled turns on client certificate issuance for this role. When true, the role must have login enabled. Defaults to true when the block is present. Default: true when the block is present.

        :schema: DatabaseRoleSpecClientCertificate
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__fea0e67fbc8b73dc6f6d96096d130384cb5961e2b9c4e50b701a6a444127075f)
            check_type(argname="argument enabled", value=enabled, expected_type=type_hints["enabled"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if enabled is not None:
            self._values["enabled"] = enabled

    @builtins.property
    def enabled(self) -> typing.Optional[builtins.bool]:
        '''Enabled turns on client certificate issuance for this role.

        When true,
        the role must have login enabled. Defaults to true when the block is present.

        :default: true when the block is present.

        :schema: DatabaseRoleSpecClientCertificate#enabled
        '''
        result = self._values.get("enabled")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DatabaseRoleSpecClientCertificate(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="cnpg_databaserole_iocnpgpostgresql.DatabaseRoleSpecCluster",
    jsii_struct_bases=[],
    name_mapping={"name": "name"},
)
class DatabaseRoleSpecCluster:
    def __init__(self, *, name: typing.Optional[builtins.str] = None) -> None:
        '''The corresponding cluster.

        :param name: Name of the referent. This field is effectively required, but due to backwards compatibility is allowed to be empty. Instances of this type with an empty value here are almost certainly wrong. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names

        :schema: DatabaseRoleSpecCluster
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__dcdd6d6d50b4b9b2a9e9c8c118474e79189fa4c357c98f4500539babe8662fcd)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if name is not None:
            self._values["name"] = name

    @builtins.property
    def name(self) -> typing.Optional[builtins.str]:
        '''Name of the referent.

        This field is effectively required, but due to backwards compatibility is
        allowed to be empty. Instances of this type with an empty value here are
        almost certainly wrong.
        More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names

        :schema: DatabaseRoleSpecCluster#name
        '''
        result = self._values.get("name")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DatabaseRoleSpecCluster(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="cnpg_databaserole_iocnpgpostgresql.DatabaseRoleSpecDatabaseRoleReclaimPolicy"
)
class DatabaseRoleSpecDatabaseRoleReclaimPolicy(enum.Enum):
    '''The policy for end-of-life maintenance of this role.

    :schema: DatabaseRoleSpecDatabaseRoleReclaimPolicy
    '''

    DELETE = "DELETE"
    '''delete.'''
    RETAIN = "RETAIN"
    '''retain.'''


@jsii.enum(jsii_type="cnpg_databaserole_iocnpgpostgresql.DatabaseRoleSpecEnsure")
class DatabaseRoleSpecEnsure(enum.Enum):
    '''Ensure the role is ``present`` or ``absent`` - defaults to "present".

    :schema: DatabaseRoleSpecEnsure
    '''

    PRESENT = "PRESENT"
    '''present.'''
    ABSENT = "ABSENT"
    '''absent.'''


@jsii.data_type(
    jsii_type="cnpg_databaserole_iocnpgpostgresql.DatabaseRoleSpecPasswordSecret",
    jsii_struct_bases=[],
    name_mapping={"name": "name"},
)
class DatabaseRoleSpecPasswordSecret:
    def __init__(self, *, name: builtins.str) -> None:
        '''Secret containing the password of the role (if present).

        If null, the password will be ignored unless DisablePassword is set.
        When set, the secret must follow the ``kubernetes.io/basic-auth`` format
        and contain both a ``username`` and a ``password`` field.

        :param name: Name of the referent.

        :schema: DatabaseRoleSpecPasswordSecret
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__52ddad18a29a041d25f2aa2d134617e83d826bc09c74ebf6429a5121155262dd)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }

    @builtins.property
    def name(self) -> builtins.str:
        '''Name of the referent.

        :schema: DatabaseRoleSpecPasswordSecret#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DatabaseRoleSpecPasswordSecret(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


__all__ = [
    "DatabaseRole",
    "DatabaseRoleProps",
    "DatabaseRoleSpec",
    "DatabaseRoleSpecClientCertificate",
    "DatabaseRoleSpecCluster",
    "DatabaseRoleSpecDatabaseRoleReclaimPolicy",
    "DatabaseRoleSpecEnsure",
    "DatabaseRoleSpecPasswordSecret",
]

publication.publish()

def _typecheckingstub__e65d8b2a9ef815242c201f91b2e2bdd5d188ab15368a0a085f19a70750ad0277(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]],
    spec: typing.Union[DatabaseRoleSpec, typing.Dict[builtins.str, typing.Any]],
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__0496076a486877b00072297764e48873a50bec4c1960e80b198c710a23ac12d7(
    *,
    metadata: typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]],
    spec: typing.Union[DatabaseRoleSpec, typing.Dict[builtins.str, typing.Any]],
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__f387ce897d855b6c6574faa8a56fd2c13e846a5fc7cc04255ccd857a7dfe8cdb(
    *,
    cluster: typing.Union[DatabaseRoleSpecCluster, typing.Dict[builtins.str, typing.Any]],
    name: builtins.str,
    bypassrls: typing.Optional[builtins.bool] = None,
    client_certificate: typing.Optional[typing.Union[DatabaseRoleSpecClientCertificate, typing.Dict[builtins.str, typing.Any]]] = None,
    comment: typing.Optional[builtins.str] = None,
    connection_limit: typing.Optional[jsii.Number] = None,
    createdb: typing.Optional[builtins.bool] = None,
    createrole: typing.Optional[builtins.bool] = None,
    database_role_reclaim_policy: typing.Optional[DatabaseRoleSpecDatabaseRoleReclaimPolicy] = None,
    disable_password: typing.Optional[builtins.bool] = None,
    ensure: typing.Optional[DatabaseRoleSpecEnsure] = None,
    inherit: typing.Optional[builtins.bool] = None,
    in_roles: typing.Optional[typing.Sequence[builtins.str]] = None,
    login: typing.Optional[builtins.bool] = None,
    password_secret: typing.Optional[typing.Union[DatabaseRoleSpecPasswordSecret, typing.Dict[builtins.str, typing.Any]]] = None,
    replication: typing.Optional[builtins.bool] = None,
    superuser: typing.Optional[builtins.bool] = None,
    valid_until: typing.Optional[datetime.datetime] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__fea0e67fbc8b73dc6f6d96096d130384cb5961e2b9c4e50b701a6a444127075f(
    *,
    enabled: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__dcdd6d6d50b4b9b2a9e9c8c118474e79189fa4c357c98f4500539babe8662fcd(
    *,
    name: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__52ddad18a29a041d25f2aa2d134617e83d826bc09c74ebf6429a5121155262dd(
    *,
    name: builtins.str,
) -> None:
    """Type checking stubs"""
    pass
