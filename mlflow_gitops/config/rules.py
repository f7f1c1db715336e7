"""Checks across keys, and of everything the render derives, against what the cluster will accept.

The JSON Schema checks each value alone; these rules check what only the whole config tells: contradicting
keys, names that must differ between instances, and every name, URL, CIDR, quantity and duration the
render derives, against the limits of the API server, the operators, Flux, S3 and PostgreSQL
(`config.limits`). A config that passes renders objects the cluster accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlflow_gitops import names as n
from mlflow_gitops import settings as s
from mlflow_gitops.config import limits
from mlflow_gitops.config.errors import NO_VALUE, Problem, key_path

Origin = Callable[[tuple[Any, ...]], str]
Explicit = Callable[[tuple[Any, ...]], bool]
"""Whether a key path was set by the user (file or variable) rather than derived or defaulted."""

# Names that must differ between the instances of one environment: (label, key path, getter).
_UNIQUE: tuple[tuple[str, str, Callable[[s.InstanceSettings], str]], ...] = (
    ("instance name", "name", lambda i: i.name),
    ("namespace", "namespace", lambda i: i.namespace),
    ("host", "host", lambda i: i.host),
    ("Keycloak client id", "oidc.clientId", lambda i: i.oidc.client_id),
    ("database role", "database.role", lambda i: i.database.role),
    ("bucket", "bucket", lambda i: i.bucket),
    ("Vault path", "vaultPath", lambda i: i.vault_path),
)

_RULES: dict[str, tuple[Callable[[str], str | None], int, str]] = {
    n.SUBDOMAIN: (limits.dns_subdomain, limits.SUBDOMAIN_MAX, "an object name"),
    n.SERVICE: (limits.rfc1035_label, limits.LABEL_MAX, "a Service name is a DNS label"),
    n.LABEL: (limits.dns_label, limits.LABEL_MAX, "the name becomes a label value"),
}
"""Per naming rule: the checker, the length limit and why it applies."""
WELL_KNOWN_PLATFORM_NAMESPACES = (
    "default",
    "flux-system",
    "argocd",
    "cnpg-system",
    "external-secrets",
    "vault",
    "traefik",
    "cert-manager",
)
"""Namespaces of the platform an instance must never take over (besides kube-* and the ones the config names)."""


@dataclass(frozen=True)
class Context:
    env: s.EnvironmentSettings
    origin: Origin
    explicit: Explicit

    def problem(self, path: tuple[Any, ...], message: str, value: Any = NO_VALUE) -> Problem:
        return Problem(self.origin(path), key_path(path), message, value)


def problems(env: s.EnvironmentSettings, origin: Origin, explicit: Explicit) -> list[Problem]:
    """Every problem of `env`, in a stable order. URLs are checked first: later rules read their ports."""
    ctx = Context(env, origin, explicit)
    found = list(_urls(ctx))
    if found:
        return found
    for rule in (
        _contradictions,
        _cluster,
        _instances,
        _platform_namespaces,
        _network,
        _resources,
        _server_options,
        _gitops,
        _durations,
        _derived_names,
        _collisions,
        _patches,
    ):
        found += rule(ctx)
    return found


def _patches(ctx: Context) -> Iterator[Problem]:
    """Each patch targets an object the render makes (the names derive from the config, so no render is
    needed), and an instance the environment has."""
    env = ctx.env
    instances = {inst.name: inst for inst in env.instances}
    for index, patch in enumerate(env.patches):
        where = ("patches", index, "target")
        if patch.instance is not None and patch.instance not in instances:
            yield ctx.problem(
                (*where, "instance"), f"no such instance; the environment has {', '.join(instances)}", patch.instance
            )
            continue
        chosen = [instances[patch.instance]] if patch.instance else list(instances.values())
        made = [obj for inst in chosen for obj in n.Names(env, inst).objects() if obj.kind == patch.kind]
        if not any(obj.name == patch.name for obj in made):
            kinds = sorted({obj.kind for inst in chosen for obj in n.Names(env, inst).objects()})
            named = ", ".join(sorted({obj.name for obj in made})) or f"none (kinds rendered: {', '.join(kinds)})"
            yield ctx.problem(
                (*where, "name"), f"no {patch.kind} of this name in the render; its {patch.kind}s: {named}", patch.name
            )


def _urls(ctx: Context) -> Iterator[Problem]:
    env = ctx.env
    urls: list[tuple[tuple[Any, ...], str]] = [
        (("keycloak", "url"), env.keycloak.url),
        (("s3", "endpoint"), env.s3.endpoint),
        (("gitops", "argocd", "destinationServer"), env.gitops.argocd_destination),
        *((("instances", i, "url"), inst.url) for i, inst in enumerate(env.instances)),
    ]
    if env.gitops.repository_url:
        urls.append((("gitops", "repository", "url"), env.gitops.repository_url))
    for path, url in urls:
        problem = limits.url_port(url)
        if problem:
            yield ctx.problem(path, problem, url)
    if env.gitops.repository_url:
        problem = limits.url_password(env.gitops.repository_url)
        if problem:
            yield ctx.problem(("gitops", "repository", "url"), problem, env.gitops.repository_url)


def _contradictions(ctx: Context) -> Iterator[Problem]:
    env = ctx.env
    if env.ingress.tls_secret_name and env.ingress.tls_cert_resolver:
        yield ctx.problem(("ingress", "tls"), "secretName and certResolver contradict each other: set exactly one")
    admins = [("keycloak", env.keycloak.admin), ("s3", env.s3.admin), ("postgres", env.postgres.admin)]
    for later, (key, admin) in enumerate(admins):
        for earlier_key, earlier in admins[:later]:
            if admin.secret_name == earlier.secret_name and (admin.vault_path or earlier.vault_path):
                yield ctx.problem(
                    (key, "admin", "secretName"),
                    f"the same Secret as {earlier_key}.admin.secretName: two ExternalSecrets would make it",
                    admin.secret_name,
                )
    if env.postgres.ssl_mode in ("verify-ca", "verify-full") and env.postgres.ca is None:
        yield ctx.problem(
            ("postgres", "sslMode"),
            "libpq then verifies the server's certificate against a CA, and "
            "none is configured (every connection would fail): set postgres.ca (CloudNativePG: the "
            "ca.crt of its <cluster>-ca Secret, in Vault postgres/ca) or use sslMode require",
            env.postgres.ssl_mode,
        )
    if env.vault.namespace_store and env.vault.store_kind != "SecretStore":
        yield ctx.problem(
            ("vault", "storeKind"),
            "vault.namespaceStore renders SecretStores: it needs vault.storeKind SecretStore",
            env.vault.store_kind,
        )
    if env.gitops.engine == "argocd" and not env.gitops.repository_url:
        yield ctx.problem(
            ("gitops", "repository", "url"),
            "Argo CD Applications need the GitOps repository's URL: set it (or use engine flux)",
        )


MIN_KUBE_VERSION = (1, 27)
"""The PodDisruptionBudget's unhealthyPodEvictionPolicy (beta and on by default from 1.27)."""


def needed_apis(env: s.EnvironmentSettings) -> list[tuple[str, tuple[Any, ...], str]]:
    """(group/version/Kind, the config key that asks for it, what it is for) of every custom kind the render holds.

    tests/test_cluster_apis.py checks this table against the kinds of every rendered example."""
    needs: list[tuple[str, tuple[Any, ...], str]] = [
        ("external-secrets.io/v1/ExternalSecret", ("vault",), "every Secret comes from Vault through one"),
        ("postgresql.cnpg.io/v1/Database", ("postgres",), "the tracking and auth databases"),
    ]
    if env.vault.namespace_store:
        needs.append(("external-secrets.io/v1/SecretStore", ("vault", "namespaceStore"), "the instances' own stores"))
    if env.postgres.role_management == "DatabaseRole":
        needs.append(
            (
                s.DATABASE_ROLE,
                ("postgres", "roleManagement"),
                "the login role (CloudNativePG 1.30 or newer; on 1.27-1.29 set postgres.roleManagement: job)",
            )
        )
    if env.ingress.enabled:
        needs += [
            (f"traefik.io/v1alpha1/{kind}", ("ingress", "enabled"), "the route to the server")
            for kind in ("IngressRoute", "Middleware")
        ]
    if env.monitoring.enabled:
        needs.append(
            (
                s.SERVICE_MONITOR,
                ("monitoring", "enabled"),
                "Prometheus' scrape of the metrics port (the Prometheus Operator)",
            )
        )
    if env.gitops.engine == "flux":
        needs.append(("kustomize.toolkit.fluxcd.io/v1/Kustomization", ("gitops", "engine"), "Flux's ordered units"))
        if env.gitops.repository_url:
            needs.append(
                (
                    "source.toolkit.fluxcd.io/v1/GitRepository",
                    ("gitops", "repository", "url"),
                    "Flux's source of the GitOps repository",
                )
            )
    else:
        needs.append(("argoproj.io/v1alpha1/Application", ("gitops", "engine"), "Argo CD's ordered units"))
    return needs


def _cluster(ctx: Context) -> Iterator[Problem]:
    """Refuse what the declared cluster cannot take: the API server would refuse the kind, and a Flux
    Kustomization whose dry-run meets an unknown kind applies nothing of its unit."""
    cluster = ctx.env.cluster
    major, minor = (int(part) for part in cluster.kube_version.split("."))
    if (major, minor) < MIN_KUBE_VERSION:
        yield ctx.problem(
            ("cluster", "kubeVersion"),
            "older than Kubernetes 1.27, which the render needs (the PodDisruptionBudget's unhealthyPodEvictionPolicy)",
            cluster.kube_version,
        )
    for api, key, purpose in needed_apis(ctx.env):
        if not cluster.serves(api):
            group_version, kind = api.rsplit("/", 1)
            yield ctx.problem(
                key,
                f"the render needs {kind} ({group_version}) for {purpose}, and cluster.apiVersions "
                f"does not list it: add {group_version} (or {api}) there if the cluster serves it, "
                "or change this setting",
            )


def _instances(ctx: Context) -> Iterator[Problem]:
    env = ctx.env
    admins = {"keycloak": env.keycloak.admin, "s3": env.s3.admin}
    databases: dict[str, int] = {}
    seen: dict[str, dict[str, int]] = {label: {} for label, _, _ in _UNIQUE}
    for index, inst in enumerate(env.instances):
        where = ("instances", index)
        pod_local = inst.sessions.store == "filesystem"
        if inst.replicas > 1 and pod_local:
            yield ctx.problem(
                (*where, "replicas"),
                "more than one replica needs sessions.store: redis; the plugin's filesystem sessions "
                "are pod-local, so a login that returns to another pod fails. Allowed with "
                "filesystem: 1",
                inst.replicas,
            )
        if inst.autoscaling.enabled and pod_local:
            yield ctx.problem(
                (*where, "autoscaling", "enabled"),
                "autoscaling runs several replicas: it needs sessions.store: redis",
                True,
            )
        if inst.autoscaling.enabled and inst.autoscaling.min_replicas > inst.autoscaling.max_replicas:
            yield ctx.problem(
                (*where, "autoscaling"),
                f"minReplicas {inst.autoscaling.min_replicas} exceeds maxReplicas {inst.autoscaling.max_replicas}",
            )
        if inst.oidc.pkce:
            # mlflow-oidc-auth 5.6.1 registers its Authlib client without code_challenge_method (auth.py
            # get_oauth_instance: client_kwargs={"scope": ...} only), so it never sends a code_challenge: a client
            # that requires PKCE refuses every login (Keycloak: "Missing parameter: code_challenge_method").
            yield ctx.problem(
                (*where, "oidc", "pkce"),
                "the MLflow OIDC plugin (mlflow-oidc-auth 5.6.1) sends no PKCE code_challenge, so a "
                "Keycloak client that requires PKCE refuses every login; remove it or set false (the "
                "client stays confidential: its secret protects the code exchange)",
                True,
            )
        yield from _members(ctx, index, inst)
        yield from _retired(ctx, index, inst)
        redis = inst.sessions.redis
        if inst.sessions.store == "redis" and not redis.deploy and not redis.host:
            yield ctx.problem(
                (*where, "sessions", "redis", "host"),
                "sessions.redis.deploy is false: name the existing Redis with host",
            )
        if inst.sessions.store == "redis" and redis.deploy and redis.host:
            yield ctx.problem(
                (*where, "sessions", "redis"),
                "deploy and host contradict each other: render a Redis "
                "(deploy: true) or use an existing one (deploy: false, host)",
            )
        for label, sub, get in _UNIQUE:
            value = get(inst)
            if value in seen[label]:
                yield ctx.problem(
                    (*where, *sub.split(".")),
                    f"{label} already used by instances[{seen[label][value]}]; each instance needs its own",
                    value,
                )
            seen[label].setdefault(value, index)
        own = n.Names(env, inst).instance_secrets
        for section, admin in admins.items():
            if admin.secret_name in own:
                yield ctx.problem(
                    (section, "admin", "secretName"),
                    f"collides with a Secret of instances[{index}]; pick another name",
                    admin.secret_name,
                )
        if s.url_host(inst.url) != inst.host:
            yield ctx.problem(
                (*where, "url"),
                f"its host must be the instance host {inst.host!r} (the allowed hosts, "
                "redirect URI and IngressRoute all derive from it)",
                inst.url,
            )
        if inst.database.name == inst.database.auth_name:
            yield ctx.problem(
                (*where, "database"),
                "name and authName must differ: the plugin's Alembic tables would collide with MLflow's",
                inst.database.name,
            )
        for db in (inst.database.name, inst.database.auth_name):
            if db in databases and databases[db] != index:
                yield ctx.problem((*where, "database"), f"database already used by instances[{databases[db]}]", db)
            databases.setdefault(db, index)


def _retired(ctx: Context, index: int, inst: s.InstanceSettings) -> Iterator[Problem]:
    bootstrap = ctx.env.bootstrap
    if inst.retired and not bootstrap.keycloak and not bootstrap.minio:
        yield ctx.problem(
            ("instances", index, "retired"),
            "nothing to clean up: bootstrap.keycloak and bootstrap.minio are both disabled; remove the entry "
            "instead (its objects are pruned)",
            True,
        )
    if inst.retired:
        live = {
            group: other.name
            for other in ctx.env.instances
            if not other.retired
            for group in (other.oidc.admin_group, other.oidc.user_group)
        }
        for key, group in (("adminGroup", inst.oidc.admin_group), ("userGroup", inst.oidc.user_group)):
            if group in live:
                yield ctx.problem(
                    ("instances", index, "oidc", key),
                    f"the cleanup would delete this Keycloak group, which instance {live[group]} still uses; give "
                    "the live instance a group of its own first",
                    group,
                )
    if inst.bucket_cleanup != "keep" and not inst.retired:
        yield ctx.problem(
            ("instances", index, "cleanup", "bucket"),
            "applies only to a retired instance: set retired: true to run the cleanup",
            inst.bucket_cleanup,
        )


def _members(ctx: Context, index: int, inst: s.InstanceSettings) -> Iterator[Problem]:
    members, where = inst.members, ("instances", index, "members")
    if members != s.MembersSettings() and not ctx.env.bootstrap.keycloak:
        yield ctx.problem(
            where,
            "the keycloak-setup Job keeps the memberships, and bootstrap.keycloak.enabled is false: enable it "
            "or remove members",
        )
    for number, entry in enumerate(members.upstream):
        if not entry.admins and not entry.users:
            yield ctx.problem(
                (*where, "upstream", number),
                "maps no group: list the upstream groups whose members join the instance's in admins or users",
            )


def _platform_namespaces(ctx: Context) -> Iterator[Problem]:
    """An instance namespace gets default-deny NetworkPolicies, restricted Pod Security and, when the
    instance is removed, pruned: it must never be one the platform's own services live in."""
    env, net = ctx.env, ctx.env.network
    named = {
        env.postgres.namespace: "postgres.namespace (PostgreSQL)",
        env.s3.minio_namespace: "s3.minioNamespace (MinIO)",
        net.keycloak_namespace: "network.keycloakNamespace (Keycloak)",
        net.ingress_namespace: "network.ingressNamespace (the ingress controller)",
        net.dns_namespace: "network.dnsNamespace (the cluster DNS)",
        env.monitoring.prometheus_namespace: "monitoring.prometheusNamespace (Prometheus)",
        env.gitops.namespace: "gitops.namespace (the GitOps engine)",
        **{ns: f"network.allowFrom (client namespace {ns})" for ns in net.allow_from},
    }
    for index, inst in enumerate(env.instances):
        path, _ = _blame(ctx, index, "namespace")
        ns = inst.namespace
        reason = named.get(ns)
        if reason is None and (ns.startswith("kube-") or ns in WELL_KNOWN_PLATFORM_NAMESPACES):
            reason = "a namespace of Kubernetes or of the platform's operators"
        if reason:
            yield ctx.problem(
                path,
                f"the instance namespace {ns!r} is {reason}: an instance namespace gets "
                "default-deny NetworkPolicies and restricted Pod Security, and is pruned with the "
                "instance; give the instance its own namespace",
                ns,
            )


def _network(ctx: Context) -> Iterator[Problem]:
    net = ctx.env.network
    for key, cidrs in (
        ("keycloakCidrs", net.keycloak_cidrs),
        ("postgresCidrs", net.postgres_cidrs),
        ("s3Cidrs", net.s3_cidrs),
        ("redisCidrs", net.redis_cidrs),
    ):
        for index, value in enumerate(cidrs):
            problem = limits.cidr(value)
            if problem:
                yield ctx.problem(("network", key, index), problem, value)


def _resources(ctx: Context) -> Iterator[Problem]:
    for index, inst in enumerate(ctx.env.instances):
        res = inst.resources
        for resource, request, limit, parse in (
            ("cpu", res.cpu_request, res.cpu_limit, limits.cpu_cores),
            ("memory", res.memory_request, res.memory_limit, limits.memory_bytes),
        ):
            wanted, allowed = parse(request), parse(limit)
            base = ("instances", index, "resources")
            if allowed is not None and allowed <= 0:
                yield ctx.problem(
                    (*base, "limits", resource),
                    "a limit of zero: the container could not run; set a positive quantity",
                    limit,
                )
            elif wanted is not None and allowed is not None and wanted > allowed:
                yield ctx.problem(
                    (*base, "requests", resource),
                    f"the request exceeds the limit {limit!r}; the API server refuses a request greater than its limit",
                    request,
                )
        tmp_bytes, memory_limit = limits.memory_bytes(inst.tmp.size_limit), limits.memory_bytes(res.memory_limit)
        if tmp_bytes is not None and tmp_bytes <= 0:
            yield ctx.problem(
                ("instances", index, "tmp", "sizeLimit"),
                "zero: MLflow could not spool a single artifact transfer",
                inst.tmp.size_limit,
            )
        elif (
            inst.tmp.medium == "memory"
            and tmp_bytes is not None
            and memory_limit is not None
            and tmp_bytes >= memory_limit
        ):
            yield ctx.problem(
                ("instances", index, "tmp", "sizeLimit"),
                "with medium memory /tmp is tmpfs counted "
                f"against the memory limit {res.memory_limit!r}: a full /tmp would get the server "
                "OOM-killed; lower it, raise resources.limits.memory or use medium disk",
                inst.tmp.size_limit,
            )


def _server_options(ctx: Context) -> Iterator[Problem]:
    for index, inst in enumerate(ctx.env.instances):
        for name, _ in inst.server.extra_env:
            if n.render_owns_env(name):
                yield ctx.problem(
                    ("instances", index, "server", "extraEnv", name),
                    "the render sets this variable "
                    "itself (from the config or a Secret): set the config key it comes from instead",
                    name,
                )
        yield from _extra_parts(ctx, index, inst)
        for where, pairs in (
            (("pods", "labels"), inst.pods.labels),
            (("server", "serviceLabels"), inst.server.service_labels),
        ):
            for key, _ in pairs:
                if key.startswith("app.kubernetes.io/"):
                    yield ctx.problem(
                        ("instances", index, *where, key),
                        "app.kubernetes.io/* labels are the "
                        "render's (selectors, NetworkPolicies and the PodDisruptionBudget match them)",
                        key,
                    )


RENDERED_CONTAINERS = ("mlflow", "metrics", "wait-for-postgres")
RENDERED_VOLUMES = ("tmp", "session", "cache", "prometheus", "scripts", n.POSTGRES_CA_VOLUME)


def _extra_parts(ctx: Context, index: int, inst: s.InstanceSettings) -> Iterator[Problem]:
    """Sidecars, init containers and volumes the API server would refuse: a name taken twice, a mount of a
    volume the pod does not have."""
    server = inst.server
    base = ("instances", index, "server")
    names: set[str] = set(RENDERED_CONTAINERS)
    for key, containers in (("initContainers", server.init_containers), ("sidecars", server.sidecars)):
        for position, container in enumerate(containers):
            name = str(container["name"])
            if name in names:
                yield ctx.problem(
                    (*base, key, position, "name"),
                    "a container of the server pod already has this "
                    f"name (the render's: {', '.join(RENDERED_CONTAINERS)})",
                    name,
                )
            names.add(name)
    volumes: set[str] = set()
    for position, volume in enumerate(server.extra_volumes):
        name = str(volume["name"])
        if name in RENDERED_VOLUMES or name in volumes:
            yield ctx.problem(
                (*base, "extraVolumes", position, "name"),
                f"a volume of the server pod already has this name (the render's: {', '.join(RENDERED_VOLUMES)})",
                name,
            )
        volumes.add(name)
    mounts: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        (("extraVolumeMounts", position), mount) for position, mount in enumerate(server.extra_volume_mounts)
    ]
    for key, containers in (("initContainers", server.init_containers), ("sidecars", server.sidecars)):
        mounts += [
            ((key, c, "volumeMounts", m), mount)
            for c, container in enumerate(containers)
            for m, mount in enumerate(container.get("volumeMounts") or [])
        ]
    for where, mount in mounts:
        if mount["name"] not in volumes:
            yield ctx.problem(
                (*base, *where, "name"),
                "no volume of this name in extraVolumes: the API server "
                "refuses a mount of a volume the pod does not have",
                mount["name"],
            )


def _gitops(ctx: Context) -> Iterator[Problem]:
    gitops = ctx.env.gitops
    try:
        limits.repository_folder(gitops.path)
    except ValueError as exc:
        yield ctx.problem(("gitops", "path"), str(exc).split(": ", 1)[-1], gitops.path)
    problem = limits.git_branch(gitops.branch)
    if problem:
        yield ctx.problem(("gitops", "repository", "branch"), problem, gitops.branch)


def _durations(ctx: Context) -> Iterator[Problem]:
    env = ctx.env
    checks: tuple[tuple[tuple[str, ...], str, Callable[[str], str | None]], ...] = (
        (("gitops", "interval"), env.gitops.interval, limits.go_duration),
        (("gitops", "timeout"), env.gitops.timeout, limits.go_duration),
        (("vault", "refreshInterval"), env.vault.refresh_interval, limits.go_duration),
        (("monitoring", "interval"), env.monitoring.interval, limits.prometheus_duration),
        (("monitoring", "scrapeTimeout"), env.monitoring.scrape_timeout, limits.prometheus_duration),
    )
    bad = False
    for path, value, check in checks:
        problem = check(value)
        if problem:
            bad = True
            yield ctx.problem(path, problem, value)
    for path, value, _ in checks[:2]:
        if not bad and limits.go_duration_ns(value) == 0:
            yield ctx.problem(path, "must be longer than zero", value)
    if bad or not env.monitoring.enabled:
        return
    interval, timeout = (
        limits.go_duration_ns(v) or 0 for v in (env.monitoring.interval, env.monitoring.scrape_timeout)
    )
    if timeout > interval:
        yield ctx.problem(
            ("monitoring", "scrapeTimeout"),
            f"longer than monitoring.interval "
            f"{env.monitoring.interval!r}: Prometheus refuses a scrape timeout above its interval",
            env.monitoring.scrape_timeout,
        )


DERIVED_FROM = {
    "namespace": ("name",),
    "bucket": ("name",),
    "database.role": ("name",),
    "database.name": ("database.role", "name"),
    "database.authName": ("database.role", "name"),
}
"""What each unset instance key derives from (see config.load), nearest first."""


def _blame(ctx: Context, index: int, key: str) -> tuple[tuple[Any, ...], bool]:
    """The key path to report for a value of instance `index` at `key`: the key itself when the user set it,
    else the nearest key it derives from that the user set (`name` at last); and whether it was derived."""
    for candidate in (key, *DERIVED_FROM.get(key, ())):
        path = ("instances", index, *candidate.split("."))
        if candidate == "name" or ctx.explicit(path):
            return path, candidate != key
    raise AssertionError(key)  # pragma: no cover - every chain ends with name


def _derived_names(ctx: Context) -> Iterator[Problem]:
    env = ctx.env
    for index, inst in enumerate(env.instances):
        names = n.Names(env, inst)
        worst: dict[tuple[Any, ...], tuple[int, str]] = {}
        for obj in names.objects():
            check, limit, why = _RULES[obj.rule]
            problem = check(obj.name if not obj.hashed else obj.name + "-" + "0" * n.JOB_HASH_LENGTH)
            if problem is None:
                continue
            if obj.key.startswith(("keycloak.", "s3.")):
                yield ctx.problem(tuple(obj.key.split(".")), f"the {obj.kind} name {problem} ({why})", obj.name)
                continue
            path, derived = _blame(ctx, index, obj.key)
            value = _get(inst, path[2:])
            if obj.length > limit:
                allowed = limit - (obj.length - len(value))
                message = (
                    f"too long: it makes the {obj.kind} name {obj.shown!r} of {obj.length} characters, and "
                    f"{why}, of at most {limit}; use at most {allowed} characters"
                )
                if path not in worst or allowed < worst[path][0]:
                    worst[path] = (allowed, message)
            else:
                yield ctx.problem(
                    path,
                    f"it makes the {obj.kind} name {obj.shown!r}, which {problem} ({why})"
                    + (" (derived from the instance name)" if derived else ""),
                    value,
                )
        for path, (_, message) in sorted(worst.items(), key=lambda item: key_path(item[0])):
            yield ctx.problem(path, message, _get(inst, path[2:]))
        yield from _storage_names(ctx, index, inst)
    for obj in sorted(n.engine_objects(env), key=lambda o: -len(o.name)):  # the longest name tells the limit
        check, limit, why = _RULES[obj.rule]
        problem = check(obj.name)
        if problem:
            allowed = limit - (len(obj.name) - len(env.name))
            yield Problem(
                env.source,
                "",
                f"the environment name {env.name!r} makes the {obj.kind} name "
                f"{obj.name!r}, which {problem} ({why}); name the environment file with at most {allowed} "
                "characters",
            )
            return


def _storage_names(ctx: Context, index: int, inst: s.InstanceSettings) -> Iterator[Problem]:
    db = inst.database
    for key, value, check in (
        ("bucket", inst.bucket, limits.s3_bucket),
        ("database.role", db.role, limits.pg_role),
        ("database.name", db.name, limits.pg_database),
        ("database.authName", db.auth_name, limits.pg_database),
    ):
        problem = check(value)
        if problem is None:
            continue
        path, derived = _blame(ctx, index, key)
        hint = f" (derived from {key_path(path[2:])}; set instances[{index}].{key} to choose it)" if derived else ""
        label = {
            "bucket": "bucket",
            "database.role": "PostgreSQL role",
            "database.name": "database",
            "database.authName": "auth database",
        }[key]
        yield ctx.problem(path, f"the {label} name {value!r} {problem}{hint}", _get(inst, path[2:]))


def _get(inst: s.InstanceSettings, parts: tuple[Any, ...]) -> Any:
    """The value at an instance key path such as ("database", "role")."""
    value: Any = inst
    for part in parts:
        value = getattr(value, {"authName": "auth_name"}.get(part, part))
    return value


def _collisions(ctx: Context) -> Iterator[Problem]:
    """Two objects of one kind, namespace and name overwrite each other in the cluster (and in the output)."""
    env = ctx.env
    owner: dict[tuple[str, str | None, str], int] = {}
    for index, inst in enumerate(env.instances):
        for obj in n.Names(env, inst).objects():
            other = owner.setdefault(obj.identity, index)
            if other != index:
                where = f"namespace {obj.namespace!r}" if obj.namespace else "the cluster"
                yield ctx.problem(
                    ("instances", index, "name"),
                    f"its {obj.kind} {obj.shown!r} in {where} is also rendered by instances[{other}] "
                    f"({env.instances[other].name!r}): one would overwrite the other; rename one "
                    "instance",
                    inst.name,
                )
                break
