"""Read environment files once, apply the old module's environment variables, validate, build settings.

Flow: built-in defaults <- environment file <- environment variables -> JSON Schema -> semantic checks
-> frozen settings. Every problem is collected and raised together as a ConfigError.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

from mlflow_gitops.config import settings as s
from mlflow_gitops.config.errors import NO_VALUE, ConfigError, Problem, key_path
from mlflow_gitops.names import Names

DEFAULT_ENVIRONMENT = "default"
BUILT_IN = "built-in defaults"
ENV_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@cache
def schema() -> dict[str, Any]:
    return json.loads(resources.files("mlflow_gitops.config").joinpath("schema.json").read_text())


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


@cache
def _defaults() -> dict[str, Any]:
    return yaml.safe_load(resources.files("mlflow_gitops.config").joinpath("defaults.yaml").read_text())


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError("expected true or false (also 1/0, yes/no, on/off)")


# The old module's variables: name -> (key path, where '*' means the single instance; parser).
ENV_OVERRIDES: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "MLFLOW_NAMESPACE": (("instances", "*", "namespace"), str),
    "MLFLOW_HOST": (("instances", "*", "host"), str),
    "MLFLOW_IMAGE_TAG": (("image", "tag"), str),
    "MLFLOW_IMAGE_PULL_POLICY": (("image", "pullPolicy"), str),
    "IMAGE_REGISTRY": (("image", "registry"), str),
    "KEYCLOAK_HOST": (("keycloak", "host"), str),
    "KEYCLOAK_REALM": (("keycloak", "realm"), str),
    "POSTGRES_NAMESPACE": (("postgres", "namespace"), str),
    "MINIO_NAMESPACE": (("s3", "minioNamespace"), str),
    "PROMETHEUS_NAMESPACE": (("monitoring", "prometheusNamespace"), str),
    "MONITORING_ENABLED": (("monitoring", "enabled"), _parse_bool),
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, source: str) -> dict[str, Any]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(source, where, f"malformed YAML: {problem}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(source, "", f"cannot read the file: {exc}")]) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError([Problem(source, "", "the file must hold a mapping of keys", type(doc).__name__)])
    return doc


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(over)


def _describe(error: jsonschema.ValidationError) -> str:
    sub = error.schema if isinstance(error.schema, dict) else {}
    hint = f" ({sub['description']})" if "description" in sub else ""
    match error.validator:
        case "additionalProperties":
            allowed = ", ".join(sorted(sub.get("properties", {})))
            return f"unknown key; allowed keys here: {allowed}"
        case "enum":
            return "allowed values: " + ", ".join(str(v) for v in error.validator_value)
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


def _schema_problems(doc: dict[str, Any], origin: Callable[[tuple[Any, ...]], str]) -> list[Problem]:
    problems = []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    for error in errors:
        parts = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            for key in sorted(set(error.instance) - set(error.schema.get("properties", {}))):
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
                    Problem(source, "instances", f"applies only to an environment with exactly one instance; "
                            f"this one has {count}: set the key per instance in the file instead")
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
    )


REDIS_IMAGE = "docker.io/library/redis:7.4.2-alpine"


def _sessions(raw: dict[str, Any]) -> s.SessionSettings:
    redis = raw.get("redis", {})
    return s.SessionSettings(store=raw.get("store", "filesystem"), redis=s.RedisSettings(
        deploy=redis.get("deploy", True), host=redis.get("host"), port=redis.get("port", 6379),
        db=redis.get("db", 0), ssl=redis.get("ssl", False), image=redis.get("image", REDIS_IMAGE)))


def _settings(name: str, source: str, doc: dict[str, Any]) -> s.EnvironmentSettings:
    image, kc, pg, s3 = doc["image"], doc["keycloak"], doc["postgres"], doc["s3"]
    vault, ingress, mon, net = doc["vault"], doc["ingress"], doc["monitoring"], doc["network"]
    tls = ingress.get("tls", {})
    return s.EnvironmentSettings(
        name=name,
        source=source,
        image=s.ImageSettings(
            registry=image["registry"],
            repository=image["repository"],
            tag=image["tag"],
            digest=image.get("digest"),
            pull_policy=image["pullPolicy"],
        ),
        keycloak=s.KeycloakSettings(
            host=kc["host"],
            url=kc.get("url", f"https://{kc['host']}"),
            realm=kc["realm"],
            display_name=kc["displayName"],
            admin_realm=kc["adminRealm"],
            admin_client_id=kc["adminClientId"],
            admin=_admin_secret(kc["admin"]),
        ),
        postgres=s.PostgresSettings(
            namespace=pg["namespace"],
            cluster=pg["cluster"],
            host=pg.get("host", f"{pg['cluster']}-rw.{pg['namespace']}.svc.cluster.local"),
            port=pg["port"],
            ssl_mode=pg["sslMode"],
        ),
        s3=s.S3Settings(
            minio_namespace=s3["minioNamespace"],
            endpoint=s3.get("endpoint", f"http://minio.{s3['minioNamespace']}.svc.cluster.local:9000"),
            ignore_tls=s3["ignoreTls"],
            admin=_admin_secret(s3["admin"]),
        ),
        vault=s.VaultSettings(
            store=vault["store"], store_kind=vault["storeKind"], refresh_interval=vault["refreshInterval"]
        ),
        ingress=s.IngressSettings(
            enabled=ingress["enabled"],
            entry_point=ingress["entryPoint"],
            tls_secret_name=tls.get("secretName"),
            tls_cert_resolver=tls.get("certResolver"),
        ),
        monitoring=s.MonitoringSettings(
            enabled=mon["enabled"],
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
        network=s.NetworkSettings(
            policies=net["policies"],
            ingress_namespace=net["ingressNamespace"],
            allow_from=tuple(net["allowFrom"]),
            dns_namespace=net["dnsNamespace"],
            keycloak_namespace=net["keycloakNamespace"],
            keycloak_ports=tuple(net["keycloakPorts"]),
            keycloak_cidrs=tuple(net["keycloakCidrs"]),
            postgres_cidrs=tuple(net["postgresCidrs"]),
            s3_cidrs=tuple(net["s3Cidrs"]),
        ),
        instances=tuple(_instance(raw) for raw in doc["instances"]),
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
        argocd_project=argocd["project"],
        argocd_destination=argocd["destinationServer"],
    )


def _admin_secret(raw: dict[str, Any]) -> s.AdminSecret:
    return s.AdminSecret(secret_name=raw["secretName"], user_key=raw["userKey"], password_key=raw["passwordKey"],
                         vault_path=raw.get("vaultPath"))


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


def _semantic_problems(env: s.EnvironmentSettings, origin: Callable[[tuple[Any, ...]], str]) -> list[Problem]:
    problems: list[Problem] = []
    tls_path = ("ingress", "tls")
    if env.ingress.tls_secret_name and env.ingress.tls_cert_resolver:
        problems.append(Problem(origin(tls_path), key_path(tls_path),
                                "secretName and certResolver contradict each other: set exactly one"))
    admins = {"keycloak": env.keycloak.admin, "s3": env.s3.admin}
    if env.keycloak.admin.secret_name == env.s3.admin.secret_name and any(a.vault_path for a in admins.values()):
        problems.append(Problem(origin(("s3", "admin")), "s3.admin.secretName",
                                "the same Secret as keycloak.admin.secretName: two ExternalSecrets would make it",
                                env.s3.admin.secret_name))
    if env.gitops.engine == "argocd" and not env.gitops.repository_url:
        problems.append(Problem(origin(("gitops",)), "gitops.repository.url",
                                "Argo CD Applications need the GitOps repository's URL: set it (or use engine flux)"))
    databases: dict[str, int] = {}
    seen: dict[str, dict[str, int]] = {label: {} for label, _, _ in _UNIQUE}
    for index, inst in enumerate(env.instances):
        where = ("instances", index)
        pod_local = inst.sessions.store == "filesystem"
        if inst.replicas > 1 and pod_local:
            problems.append(Problem(
                origin((*where, "replicas")), key_path((*where, "replicas")),
                "more than one replica needs sessions.store: redis; the plugin's filesystem sessions are "
                "pod-local, so a login that returns to another pod fails. Allowed with filesystem: 1", inst.replicas))
        if inst.autoscaling.enabled and pod_local:
            problems.append(Problem(origin((*where, "autoscaling")), key_path((*where, "autoscaling", "enabled")),
                                    "autoscaling runs several replicas: it needs sessions.store: redis", True))
        if inst.autoscaling.enabled and inst.autoscaling.min_replicas > inst.autoscaling.max_replicas:
            problems.append(Problem(origin((*where, "autoscaling")), key_path((*where, "autoscaling")),
                                    f"minReplicas {inst.autoscaling.min_replicas} exceeds maxReplicas "
                                    f"{inst.autoscaling.max_replicas}"))
        redis = inst.sessions.redis
        if inst.sessions.store == "redis" and not redis.deploy and not redis.host:
            problems.append(Problem(origin((*where, "sessions")), key_path((*where, "sessions", "redis", "host")),
                                    "sessions.redis.deploy is false: name the existing Redis with host"))
        if inst.sessions.store == "redis" and redis.deploy and redis.host:
            problems.append(Problem(origin((*where, "sessions")), key_path((*where, "sessions", "redis")),
                                    "deploy and host contradict each other: render a Redis (deploy: true) or use "
                                    "an existing one (deploy: false, host)"))
        for label, sub, get in _UNIQUE:
            value = get(inst)
            if value in seen[label]:
                other = seen[label][value]
                problems.append(Problem(origin(where), key_path((*where, *sub.split("."))),
                                        f"{label} already used by instances[{other}]; each instance needs its own",
                                        value))
            seen[label].setdefault(value, index)
        own = Names(env, inst).instance_secrets
        for section, admin in admins.items():
            if admin.secret_name in own:
                problems.append(Problem(origin((section, "admin")), f"{section}.admin.secretName",
                                        f"collides with a Secret of instances[{index}]; pick another name",
                                        admin.secret_name))
        if urlsplit(inst.url).hostname != inst.host:
            problems.append(Problem(origin(where), key_path((*where, "url")),
                                    f"its host must be the instance host {inst.host!r} (the allowed hosts, redirect "
                                    "URI and IngressRoute all derive from it)", inst.url))
        if inst.database.name == inst.database.auth_name:
            problems.append(Problem(origin(where), key_path((*where, "database")),
                                    "name and authName must differ: the plugin's Alembic tables would collide "
                                    "with MLflow's", inst.database.name))
        for db in (inst.database.name, inst.database.auth_name):
            if db in databases and databases[db] != index:
                problems.append(Problem(origin(where), key_path((*where, "database")),
                                        f"database already used by instances[{databases[db]}]", db))
            databases.setdefault(db, index)
    return problems


def load_environment(name: str, path: Path | None, environ: Mapping[str, str],
                     gitops_path: str | None = None) -> s.EnvironmentSettings:
    """Load one environment from `path` (None: the built-in default environment).

    `gitops_path` (publish --path) overrides `gitops.path`, which the engine objects point at.
    """
    source = _display(path) if path else BUILT_IN
    file_doc = read_yaml(path, source) if path else {}
    merged = _merge(copy.deepcopy(_defaults()), file_doc)
    problems: list[Problem] = []
    set_by = _apply_env(merged, environ, problems)
    if gitops_path is not None:
        merged.setdefault("gitops", {})["path"] = gitops_path
        set_by[("gitops", "path")] = "--path"

    def origin(parts: tuple[Any, ...]) -> str:
        for length in range(len(parts), 0, -1):
            if parts[:length] in set_by:
                return set_by[parts[:length]]
        return source

    problems += _schema_problems(merged, origin)
    if problems:
        raise ConfigError(problems)
    env = _settings(name, source, merged)
    problems = _semantic_problems(env, origin)
    if problems:
        raise ConfigError(problems)
    return env


def discover(config_dir: Path) -> dict[str, Path]:
    """Environment files in `config_dir`: name -> path (`<name>.yaml` or `<name>.yml`)."""
    if not config_dir.is_dir():
        return {}
    found = sorted(p for p in config_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return {p.stem: p for p in found}


def load_environments(
    names: list[str] | None, config_dir: Path, environ: Mapping[str, str], gitops_path: str | None = None
) -> list[s.EnvironmentSettings]:
    """Load the named environments (all files in `config_dir` when None; the built-in default if none).

    `default` resolves to the built-in default environment unless `config_dir` holds a default.yaml.
    """
    files = discover(config_dir)
    problems: list[Problem] = []
    for stem, path in files.items():
        if not ENV_NAME.match(stem):
            problems.append(Problem(_display(path), "", "an environment file name must be an RFC 1123 label "
                                    "(lower-case letters, digits, '-'): it names the output folder", stem))
    wanted = list(names) if names else (list(files) or [DEFAULT_ENVIRONMENT])
    for name in wanted:
        if name not in files and name != DEFAULT_ENVIRONMENT:
            available = ", ".join(sorted({*files, DEFAULT_ENVIRONMENT}))
            problems.append(Problem("--env", "", f"no such environment in {_display(config_dir)}; "
                                    f"available: {available}", name))
    if len(set(wanted)) != len(wanted):
        problems.append(Problem("--env", "", "an environment is named twice", ",".join(wanted)))
    if problems:
        raise ConfigError(problems)
    loaded = []
    for name in wanted:
        try:
            loaded.append(load_environment(name, files.get(name), environ, gitops_path))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return loaded


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
