"""Read environment files once, apply the old module's environment variables, validate, build settings.

Flow: built-in defaults <- the bases the file extends (`layers`) <- environment file <- environment
variables -> JSON Schema -> semantic checks -> frozen settings. Every problem is collected and raised
together as a ConfigError.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import json
import os
import re
import stat
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mlflow_gitops.config import rules
from mlflow_gitops.config import settings as s
from mlflow_gitops.config.errors import NO_VALUE, ConfigError, Problem, key_path
from mlflow_gitops.config.layers import BASE_PREFIX, Layer, key_origins, layers, overrides

DEFAULT_ENVIRONMENT = "default"
BUILT_IN = "built-in defaults"
ENV_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUFFIXES = (".yaml", ".yml")
CUSTOMIZE = "customize.py"
"""A Python file of the config folder whose `customize(platform)` runs for each instance (constructs.customize)."""
MAX_INSTANCES = 1000
"""Instances per environment: far more than one cluster runs, and a bound on the work of a bad file."""
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@cache
def schema() -> dict[str, Any]:
    return dict(json.loads(resources.files("mlflow_gitops.config").joinpath("schema.json").read_text()))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


@cache
def _defaults() -> dict[str, Any]:
    return dict(yaml.safe_load(resources.files("mlflow_gitops.config").joinpath("defaults.yaml").read_text()))


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError("expected true or false (also 1/0, yes/no, on/off)")


def _parse_text(raw: str) -> str:
    return raw


# The old module's variables: name -> (key path, where '*' means the single instance; parser).
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "MLFLOW_NAMESPACE": (("instances", "*", "namespace"), _parse_text),
    "MLFLOW_HOST": (("instances", "*", "host"), _parse_text),
    "MLFLOW_IMAGE_TAG": (("image", "tag"), _parse_text),
    "MLFLOW_IMAGE_PULL_POLICY": (("image", "pullPolicy"), _parse_text),
    "IMAGE_REGISTRY": (("image", "registry"), _parse_text),
    "KEYCLOAK_HOST": (("keycloak", "host"), _parse_text),
    "KEYCLOAK_REALM": (("keycloak", "realm"), _parse_text),
    "POSTGRES_NAMESPACE": (("postgres", "namespace"), _parse_text),
    "MINIO_NAMESPACE": (("s3", "minioNamespace"), _parse_text),
    "PROMETHEUS_NAMESPACE": (("monitoring", "prometheusNamespace"), _parse_text),
    "MONITORING_ENABLED": (("monitoring", "enabled"), _parse_bool),
}


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(over)


def _describe(error: jsonschema.ValidationError) -> str:
    sub: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    hint = f" ({sub['description']})" if "description" in sub else ""
    match error.validator:
        case "additionalProperties":
            allowed = ", ".join(sorted(sub.get("properties", {})))
            return f"unknown key; allowed keys here: {allowed}"
        case "enum":
            return "allowed values: " + ", ".join(str(v) for v in error.validator_value)  # type: ignore[union-attr]
        case "type":
            return f"wrong type {type(error.instance).__name__}; expected {error.validator_value}"
        case "pattern":
            return f"must be {sub['title']}" if "title" in sub else f"must match {error.validator_value}"
        case "minimum" | "maximum":
            return f"out of range; allowed {sub.get('minimum', '-inf')}..{sub.get('maximum', 'inf')}{hint}"
        case "maxLength" | "minLength":
            return f"length must be {sub.get('minLength', 0)}..{sub.get('maxLength', 'any')} characters"
        case "required":
            return error.message
        case _:
            return f"{error.message}{hint}"


def _is_cross_field_rule(error: jsonschema.ValidationError) -> bool:
    """The schema's `allOf` if/then rules (each marked `x-rule`) are there for editors: `rules` checks the
    same on the merged config, with its defaults and a message that says what to change."""
    return "allOf" in error.schema_path


def _schema_problems(doc: dict[str, Any], origin: Callable[[tuple[Any, ...]], str]) -> list[Problem]:
    problems = []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    for error in errors:
        if _is_cross_field_rule(error):
            continue
        parts = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            known = set(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - known):
                path = (*parts, key)
                problems.append(Problem(origin(path), key_path(path), _describe(error), key))
            continue
        value = NO_VALUE if isinstance(error.instance, dict | list) else error.instance
        problems.append(Problem(origin(parts), key_path(parts), _describe(error), value))
    return problems


def _apply_env(
    merged: dict[str, Any], environ: Mapping[str, str], problems: list[Problem]
) -> dict[tuple[Any, ...], str]:
    """Apply the override variables in place; return which key paths each one set."""
    set_by: dict[tuple[Any, ...], str] = {}
    for var, (path, parse) in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        source = f"environment variable {var}"
        if not environ[var].strip():
            shown = key_path(tuple(0 if part == "*" else part for part in path))
            problems.append(
                Problem(
                    source,
                    shown,
                    "set but empty; give a value or unset the variable to keep the config's value",
                    environ[var],
                )
            )
            continue
        try:
            value = parse(environ[var])
        except ValueError as exc:
            problems.append(Problem(source, key_path(path), str(exc), environ[var]))
            continue
        if path[0] == "instances":
            instances = merged.get("instances")
            if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
                count = len(instances) if isinstance(instances, list) else 0
                problems.append(
                    Problem(
                        source,
                        "instances",
                        f"applies only to an environment with exactly one instance; "
                        f"this one has {count}: set the key per instance in the file instead",
                    )
                )
                continue
            instances[0][path[2]] = value
            set_by[("instances", 0, path[2])] = source
        else:
            section = merged.setdefault(path[0], {})
            if isinstance(section, dict):
                section[path[1]] = value
                set_by[path] = source
    return set_by


def _instance(raw: dict[str, Any]) -> s.InstanceSettings:
    name = raw["name"]
    host = raw.get("host", f"{name}.example.com")
    oidc, scaling = raw.get("oidc", {}), raw.get("autoscaling", {})
    database = raw.get("database", {})
    role = database.get("role", name.replace("-", "_"))
    res = raw.get("resources", {})
    requests, limits = res.get("requests", {}), res.get("limits", {})
    tmp = raw.get("tmp", {})
    return s.InstanceSettings(
        name=name,
        namespace=raw.get("namespace", name),
        host=host,
        url=raw.get("url", f"https://{host}").rstrip("/"),
        replicas=raw.get("replicas", 1),
        workers=raw.get("workers", 1),
        default_permission=raw.get("defaultPermission", "MANAGE"),
        resources=s.Resources(
            cpu_request=requests.get("cpu", "100m"),
            memory_request=requests.get("memory", "512Mi"),
            cpu_limit=limits.get("cpu", "1"),
            memory_limit=limits.get("memory", "2Gi"),
        ),
        tmp=s.TmpSettings(size_limit=tmp.get("sizeLimit", "10Gi"), medium=tmp.get("medium", "disk")),
        oidc=s.OidcSettings(
            client_id=oidc.get("clientId", name),
            admin_group=oidc.get("adminGroup", f"{name}-admins"),
            user_group=oidc.get("userGroup", f"{name}-users"),
            scopes=tuple(oidc.get("scopes", ("openid", "profile", "email", "groups"))),
            groups_attribute=oidc.get("groupsAttribute", "groups"),
            pkce=oidc.get("pkce", False),
        ),
        database=s.DatabaseSettings(
            role=role,
            name=database.get("name", role),
            auth_name=database.get("authName", f"{role}_auth"),
        ),
        bucket=raw.get("bucket", name),
        vault_path=raw.get("vaultPath", name),
        reclaim_policy=raw.get("reclaimPolicy", "retain"),
        sessions=_sessions(raw.get("sessions", {})),
        autoscaling=s.AutoscalingSettings(
            enabled=scaling.get("enabled", False),
            min_replicas=scaling.get("minReplicas", raw.get("replicas", 1)),
            max_replicas=scaling.get("maxReplicas", 5),
            target_cpu_utilization=scaling.get("targetCpuUtilization", 75),
        ),
        pods=_pods(raw.get("pods", {})),
        server=_server_options(raw.get("server", {})),
    )


def _given(raw: dict[str, Any], fields: dict[str, tuple[str, Callable[[Any], Any]]]) -> dict[str, Any]:
    """Dataclass keyword arguments for the config keys present in `raw` (absent ones keep the field default)."""
    return {field: convert(raw[key]) for key, (field, convert) in fields.items() if key in raw}


def _pairs(raw: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(raw.items()))


def _same(value: Any) -> Any:
    return value


def _pods(raw: dict[str, Any]) -> s.PodSettings:
    return s.PodSettings(
        **_given(
            raw,
            {
                "nodeSelector": ("node_selector", _pairs),
                "tolerations": ("tolerations", tuple),
                "affinity": ("affinity", _same),
                "priorityClassName": ("priority_class_name", _same),
                "imagePullSecrets": ("image_pull_secrets", tuple),
                "labels": ("labels", _pairs),
                "annotations": ("annotations", _pairs),
            },
        )
    )


def _server_options(raw: dict[str, Any]) -> s.ServerOptions:
    return s.ServerOptions(
        **_given(
            raw,
            {
                "logLevel": ("log_level", _same),
                "automaticLoginRedirect": ("automatic_login_redirect", _same),
                "staticPrefix": ("static_prefix", _same),
                "extraEnv": ("extra_env", _pairs),
                "serviceAnnotations": ("service_annotations", _pairs),
                "ingressAnnotations": ("ingress_annotations", _pairs),
                "proxyFix": ("proxy_fix", _pairs),
                "sidecars": ("sidecars", tuple),
                "initContainers": ("init_containers", tuple),
                "extraVolumes": ("extra_volumes", tuple),
                "extraVolumeMounts": ("extra_volume_mounts", tuple),
                "extraEnvFrom": ("extra_env_from", lambda sources: tuple(next(iter(x.items())) for x in sources)),
                "serviceLabels": ("service_labels", _pairs),
            },
        )
    )


REDIS_IMAGE = "docker.io/library/redis:7.4.2-alpine"


def _sessions(raw: dict[str, Any]) -> s.SessionSettings:
    redis = raw.get("redis", {})
    return s.SessionSettings(
        store=raw.get("store", "filesystem"),
        redis=s.RedisSettings(
            deploy=redis.get("deploy", True),
            host=redis.get("host"),
            port=redis.get("port", 6379),
            db=redis.get("db", 0),
            ssl=redis.get("ssl", False),
            image=redis.get("image", REDIS_IMAGE),
        ),
    )


def _settings(name: str, source: str, doc: dict[str, Any]) -> s.EnvironmentSettings:
    image, kc, pg, s3 = doc["image"], doc["keycloak"], doc["postgres"], doc["s3"]
    vault, ingress, mon, net = doc["vault"], doc["ingress"], doc["monitoring"], doc["network"]
    tls = ingress.get("tls", {})
    keycloak_url = kc.get("url", f"https://{kc['host']}")
    postgres_host = pg.get("host", f"{pg['cluster']}-rw.{pg['namespace']}.svc.cluster.local")
    s3_endpoint = s3.get("endpoint", f"http://minio.{s3['minioNamespace']}.svc.cluster.local:9000")
    instances = tuple(_instance(raw) for raw in doc["instances"])
    cluster = s.ClusterSettings(
        kube_version=doc["cluster"]["kubeVersion"], api_versions=tuple(doc["cluster"]["apiVersions"])
    )
    return s.EnvironmentSettings(
        name=name,
        source=source,
        cluster=cluster,
        image=s.ImageSettings(
            registry=image["registry"],
            repository=image["repository"],
            tag=image["tag"],
            digest=image.get("digest"),
            pull_policy=image["pullPolicy"],
        ),
        keycloak=s.KeycloakSettings(
            host=kc["host"],
            url=keycloak_url,
            realm=kc["realm"],
            display_name=kc["displayName"],
            admin_realm=kc["adminRealm"],
            admin_client_id=kc["adminClientId"],
            admin=_admin_secret(kc["admin"]),
        ),
        postgres=s.PostgresSettings(
            namespace=pg["namespace"],
            cluster=pg["cluster"],
            host=postgres_host,
            port=pg["port"],
            ssl_mode=pg["sslMode"],
            role_management=pg.get("roleManagement", "DatabaseRole" if cluster.serves(s.DATABASE_ROLE) else "job"),
            admin=_admin_secret(pg["admin"]),
            ca=_ca_secret(pg["ca"]) if "ca" in pg else None,
        ),
        s3=s.S3Settings(
            minio_namespace=s3["minioNamespace"],
            endpoint=s3_endpoint,
            ignore_tls=s3["ignoreTls"],
            admin=_admin_secret(s3["admin"]),
            region=s3.get("region"),
        ),
        vault=s.VaultSettings(
            store=vault["store"],
            store_kind=vault["storeKind"],
            refresh_interval=vault["refreshInterval"],
            rotation=vault.get("rotation"),
            reload_pods=vault.get("reloadPods", False),
        ),
        ingress=s.IngressSettings(
            enabled=ingress["enabled"],
            entry_point=ingress["entryPoint"],
            tls_secret_name=tls.get("secretName"),
            tls_cert_resolver=tls.get("certResolver"),
        ),
        monitoring=s.MonitoringSettings(
            enabled=mon.get("enabled", cluster.serves(s.SERVICE_MONITOR)),
            prometheus_namespace=mon["prometheusNamespace"],
            release=mon["release"],
            interval=mon["interval"],
            scrape_timeout=mon["scrapeTimeout"],
        ),
        bootstrap=s.BootstrapSettings(
            keycloak=doc["bootstrap"]["keycloak"]["enabled"],
            minio=doc["bootstrap"]["minio"]["enabled"],
            bucket_versioning=doc["bootstrap"]["minio"]["versioning"],
        ),
        gitops=_gitops(doc["gitops"]),
        network=_network(net, keycloak_url, postgres_host, s3_endpoint, instances),
        instances=instances,
        patches=tuple(_patch(raw) for raw in doc["patches"]),
    )


def _patch(raw: dict[str, Any]) -> s.ObjectPatch:
    target = raw["target"]
    return s.ObjectPatch(
        kind=target["kind"],
        name=target["name"],
        instance=target.get("instance"),
        merge=raw.get("merge"),
        json_patch=tuple(raw.get("jsonPatch") or ()),
    )


def _outside_cidrs(net: dict[str, Any], key: str, hosts: list[str]) -> tuple[str, ...]:
    """network.<key> as configured; else anywhere when some host is not a cluster Service, else none."""
    if key in net:
        return tuple(net[key])
    return s.ANYWHERE if any(s.cluster_service(h) is None for h in hosts) else ()


def _network(
    net: dict[str, Any],
    keycloak_url: str,
    postgres_host: str,
    s3_endpoint: str,
    instances: tuple[s.InstanceSettings, ...],
) -> s.NetworkSettings:
    redis_hosts = [
        i.sessions.redis.host
        for i in instances
        if i.sessions.store == "redis" and not i.sessions.redis.deploy and i.sessions.redis.host
    ]
    return s.NetworkSettings(
        policies=net["policies"],
        ingress_namespace=net["ingressNamespace"],
        ingress_pods=tuple(sorted(net["ingressPods"].items())) if "ingressPods" in net else s.TRAEFIK_PODS,
        allow_from=tuple(net["allowFrom"]),
        dns_namespace=net["dnsNamespace"],
        keycloak_namespace=net["keycloakNamespace"],
        keycloak_ports=tuple(net["keycloakPorts"]),
        minio_ports=tuple(net["minioPorts"]),
        keycloak_cidrs=_outside_cidrs(net, "keycloakCidrs", [s.url_host(keycloak_url)]),
        postgres_cidrs=_outside_cidrs(net, "postgresCidrs", [postgres_host]),
        s3_cidrs=_outside_cidrs(net, "s3Cidrs", [s.url_host(s3_endpoint)]),
        redis_cidrs=_outside_cidrs(net, "redisCidrs", redis_hosts),
    )


def _gitops(raw: dict[str, Any]) -> s.GitOpsSettings:
    repo, argocd = raw["repository"], raw["argocd"]
    return s.GitOpsSettings(
        engine=raw["engine"],
        path=raw["path"],
        interval=raw["interval"],
        timeout=raw["timeout"],
        repository_url=repo.get("url"),
        branch=repo["branch"],
        secret_name=repo.get("secretName"),
        namespace=raw.get("namespace", "flux-system" if raw["engine"] == "flux" else "argocd"),
        argocd_project=argocd.get("project"),
        argocd_destination=argocd["destinationServer"],
    )


def _ca_secret(raw: dict[str, Any]) -> s.CaSecret:
    return s.CaSecret(
        secret_name=raw.get("secretName", "postgres-ca"),
        key=raw.get("key", "ca.crt"),
        vault_path=raw.get("vaultPath", "postgres/ca"),
    )


def _admin_secret(raw: dict[str, Any]) -> s.AdminSecret:
    return s.AdminSecret(
        secret_name=raw["secretName"],
        user_key=raw["userKey"],
        password_key=raw["passwordKey"],
        vault_path=raw.get("vaultPath"),
    )


def load_document(name: str, document: Mapping[str, Any], source: str = "props") -> s.EnvironmentSettings:
    """Settings of environment `name` from `document` (an environment file's content as a mapping), checked
    exactly as a file is; problems name `source`. For constructs used from a user's own cdk8s app."""
    return load_environment(name, None, {}, document=(source, dict(document)))


def load_environment(
    name: str,
    path: Path | None,
    environ: Mapping[str, str],
    gitops_path: str | None = None,
    *,
    document: tuple[str, dict[str, Any]] | None = None,
) -> s.EnvironmentSettings:
    """Load one environment from `path` (None: the built-in default environment, or `document`: (source,
    content) given in memory).

    `gitops_path` (publish --path) overrides `gitops.path`, which the engine objects point at.
    """
    if document is not None:
        source, stack = document[0], [Layer(document[0], copy.deepcopy(document[1]))]
    else:
        source = _display(path) if path else BUILT_IN
        stack = layers(path, _display) if path else []
    file_doc: dict[str, Any] = {}
    for layer in stack:
        file_doc = _merge(file_doc, layer.doc)
    merged = _merge(copy.deepcopy(_defaults()), file_doc)
    problems: list[Problem] = []
    set_by = _apply_env(merged, environ, problems)
    if gitops_path is not None:
        merged.setdefault("gitops", {})["path"] = gitops_path
        set_by[("gitops", "path")] = "--path"
    from_bases = {key: where for key, where in key_origins(stack).items() if where != source}

    def origin(parts: tuple[Any, ...]) -> str:
        for length in range(len(parts), 0, -1):
            if parts[:length] in set_by:
                return set_by[parts[:length]]
            if parts[:length] in from_bases:
                return from_bases[parts[:length]]
        return source

    def explicit(parts: tuple[Any, ...]) -> bool:
        return parts in set_by or _lookup(file_doc, parts) is not _MISSING

    instances = merged.get("instances")
    if isinstance(instances, list) and len(instances) > _max_instances():
        raise ConfigError(
            [
                Problem(
                    origin(("instances",)),
                    "instances",
                    f"{len(instances)} instances; at most {_max_instances()} are allowed in one environment",
                )
            ]
        )
    problems += _schema_problems(merged, origin)
    if problems:
        raise ConfigError(problems)
    env = _settings(name, source, merged)
    precedence = (BUILT_IN, *(layer.source for layer in stack), *dict.fromkeys(set_by.values()))
    file_origins = key_origins(stack)
    by_variables = [
        f"{key_path(key)} ({by} over {file_origins[key]})" for key, by in set_by.items() if key in file_origins
    ]
    env = dataclasses.replace(env, precedence=precedence, overrides=(*overrides(stack), *by_variables))
    problems = rules.problems(env, origin, explicit)
    if problems:
        raise ConfigError(problems)
    return env


_MISSING = object()


def _lookup(doc: Any, parts: tuple[Any, ...]) -> Any:
    for part in parts:
        in_mapping = isinstance(doc, dict) and isinstance(part, str) and part in doc
        in_list = isinstance(doc, list) and isinstance(part, int) and 0 <= part < len(doc)
        if in_mapping or in_list:
            doc = doc[part]
        else:
            return _MISSING
    return doc


def _max_instances() -> int:
    return int(schema()["properties"]["instances"]["maxItems"])


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def _entry_problem(path: Path) -> str | None:
    """Why `path` (a `*.yaml` entry of the config folder) cannot be an environment file, if it cannot."""
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        return f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        return f"{_KINDS.get(stat.S_IFMT(info.st_mode), 'not a regular file')}, not an environment file"
    return None


def _folder_problem(config_dir: Path) -> str | None:
    if not os.path.lexists(config_dir):
        return "no such folder"
    try:
        info = config_dir.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that loops"
        return (
            f"a symbolic link to {os.readlink(config_dir)!r}, which does not exist"
            if config_dir.is_symlink()
            else f"cannot be read: {exc.strerror or exc}"
        )
    if not stat.S_ISDIR(info.st_mode):
        return "not a folder"
    return None


def discover(config_dir: Path) -> dict[str, Path]:
    """Environment files in `config_dir`: name -> path (`<name>.yaml` or `<name>.yml`).

    Every entry named like an environment file must be one: a dangling or looping symbolic link, a FIFO, a
    device or a folder there is an error, as are `x.yaml` next to `x.yml`, an upper-case suffix and a name
    that cannot name an output folder. Hidden entries (`.sops.yaml`, `.yamllint.yml`) belong to other tools
    and are left alone. Raises ConfigError naming each path.
    """
    where = _display(config_dir)
    problem = _folder_problem(config_dir)
    if problem:
        raise ConfigError([Problem(f"--config-dir {where}", "", problem)])
    try:
        entries = sorted(os.listdir(config_dir))
    except OSError as exc:
        raise ConfigError(
            [Problem(f"--config-dir {where}", "", f"cannot list the folder: {exc.strerror or exc}")]
        ) from None
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    for entry in entries:
        stem, dot, suffix = entry.rpartition(".")
        if entry.startswith((".", BASE_PREFIX)) or not dot or f".{suffix.lower()}" not in SUFFIXES:
            continue  # hidden files belong to other tools; `_name.yaml` is a base that environments extend
        path = config_dir / entry
        if f".{suffix}" not in SUFFIXES:
            problems.append(
                Problem(
                    _display(path),
                    "",
                    f"the suffix must be .yaml or .yml in lower case; rename the file to {stem}.{suffix.lower()}",
                )
            )
            continue
        problem = _entry_problem(path)
        if problem:
            problems.append(Problem(_display(path), "", problem))
            continue
        if not ENV_NAME.match(stem) or len(stem) > 63:
            problems.append(
                Problem(
                    _display(path),
                    "",
                    "an environment file name must be an RFC 1123 label "
                    "(lower-case letters, digits, '-', at most 63): it names the output folder",
                    stem,
                )
            )
            continue
        if stem in found:
            problems.append(
                Problem(
                    _display(path),
                    "",
                    f"{found[stem].name} defines the environment {stem!r} too; keep one of the two files",
                )
            )
            continue
        found[stem] = path
    if problems:
        raise ConfigError(problems)
    return found


def load_environments(
    names: list[str] | None, config_dir: Path | None, environ: Mapping[str, str], gitops_path: str | None = None
) -> list[s.EnvironmentSettings]:
    """Load the named environments from the files of `config_dir` (all of them when `names` is None).

    `config_dir` None means no config folder at all: only the built-in `default` environment exists. A
    folder that is missing, unreadable or holds no environment file is an error, never the built-in
    default; `default` names the built-in environment unless the folder holds a default.yaml.
    """
    files = discover(config_dir) if config_dir is not None else {}
    problems: list[Problem] = []
    if config_dir is not None and not files and not names:
        raise ConfigError(
            [
                Problem(
                    f"--config-dir {_display(config_dir)}",
                    "",
                    "holds no environment file (<name>.yaml or <name>.yml); name one with --env or add a file",
                )
            ]
        )
    wanted = list(names) if names else (list(files) or [DEFAULT_ENVIRONMENT])
    for name in wanted:
        if name not in files and name != DEFAULT_ENVIRONMENT:
            available = ", ".join(sorted({*files, DEFAULT_ENVIRONMENT}))
            where = f"in {_display(config_dir)}" if config_dir is not None else "(no config folder)"
            problems.append(Problem("--env", "", f"no such environment {where}; available: {available}", name))
    if len(set(wanted)) != len(wanted):
        problems.append(Problem("--env", "", "an environment is named twice", ",".join(wanted)))
    if problems:
        raise ConfigError(problems)
    hook = _display(config_dir / CUSTOMIZE) if config_dir is not None and (config_dir / CUSTOMIZE).is_file() else None
    loaded = []
    for name in wanted:
        try:
            env = load_environment(name, files.get(name), environ, gitops_path)
            loaded.append(dataclasses.replace(env, customize=hook) if hook else env)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return loaded


def _display(path: Path) -> str:
    """`path` relative to the working folder when it is inside it (symbolic links are not followed)."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, os.getcwd())
    return absolute if relative.startswith("..") else relative
