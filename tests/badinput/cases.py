"""The bad-input corpus: each case is a folder (config files, an output folder that already holds work) and a
command line that must exit 2 with a precise message, touch nothing and stay fast.

A case's folder holds `environments/` (the config), `out/` (an earlier render of `keep` plus a user's file:
what must survive) and whatever its `setup` adds. The command runs with that folder as the working folder.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SYNTH = ("synth", "--config-dir", "environments", "--out", "out")


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    expect: tuple[str, ...]
    """Fragments the error output must hold (file, key path, value, what is allowed)."""
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    args: tuple[str, ...] = (*SYNTH, "--env", "dev")
    environ: Mapping[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    secret: str | None = None
    """A credential that must not appear anywhere in the output."""


CASES: list[Case] = []


def case(name: str, group: str, text: str | bytes | None, *expect: str, **extra: object) -> None:
    files = dict(extra.pop("files", {}))  # type: ignore[call-overload]
    if text is not None:
        files["environments/dev.yaml"] = text
    CASES.append(Case(name, group, tuple(expect), files, **extra))  # type: ignore[arg-type]


_KEY_PATH = __import__("re").compile(r"^[a-z][A-Za-z0-9]*([.\[][A-Za-z0-9\]]+)*(\[\d+\])?:")


WITH_PROMETHEUS = (
    "cluster:\n  apiVersions: [postgresql.cnpg.io/v1/Cluster, postgresql.cnpg.io/v1/Database, "
    "external-secrets.io/v1, traefik.io/v1alpha1, kustomize.toolkit.fluxcd.io/v1, "
    "source.toolkit.fluxcd.io/v1, monitoring.coreos.com/v1]\n"
)
"""The default cluster plus the Prometheus Operator (monitoring is then on by default)."""


def full(fragment: str) -> str:
    """`fragment` prefixed with the file when it starts with a key path."""
    return f"{F}: {fragment}" if _KEY_PATH.match(fragment) else fragment


def inst(body: str) -> str:
    """An environment with one instance `team-a` plus `body` (YAML flow keys of the instance)."""
    return f"instances:\n  - {{name: team-a{', ' + body if body else ''}}}\n"


F = "environments/dev.yaml"

# --- YAML that is not a config -------------------------------------------------------------------------------
case("malformed flow", "yaml", "keycloak: [unclosed\n", f"{F}: line 2, column 1: malformed YAML")
case("tab indentation", "yaml", "keycloak:\n\trealm: x\n", f"{F}: line 2, column 1: malformed YAML")
case("duplicate key", "yaml", "keycloak:\n  realm: a\n  realm: b\n", f"{F}: line 3, column 3", "duplicate key 'realm'")
case(
    "duplicate nested key",
    "yaml",
    "instances:\n  - name: team-a\n    host: a.io\n    host: b.io\n",
    "duplicate key 'host'",
)
case("top level list", "yaml", "- a\n- b\n", f"{F}: 'list': the file must hold a mapping of keys")
case("top level scalar", "yaml", "just text\n", f"{F}: 'str': the file must hold a mapping of keys")
case("top level number", "yaml", "42\n", f"{F}: 'int': the file must hold a mapping")
case(
    "two documents",
    "yaml",
    "image: {}\n---\nkeycloak: {}\n",
    f"{F}",
    "malformed YAML",
    "expected a single document in the stream, but found another document",
)
case(
    "python tag",
    "yaml",
    "image: !!python/object/apply:os.system ['echo pwned']\n",
    "malformed YAML",
    "could not determine a constructor",
)
case("custom tag", "yaml", "image: !vault secret/x\n", "malformed YAML", "could not determine a constructor")
case("NUL byte", "yaml", b"image:\n  tag: a\x00b\n", f"{F}", "malformed YAML")
case("not UTF-8", "yaml", b"image:\n  tag: caf\xe9\n", f"{F}: not UTF-8 text")
case("list as key", "yaml", "? [a, b]\n: 1\n", f"{F}: line 1, column 3", "a key must be a string, found list")
case("mapping as key", "yaml", "? {a: 1}\n: 1\n", "a key must be a string, found dict")
case("number as key", "yaml", "1: a\nimage: {}\n", "a key must be a string, found 1")
case("YAML 1.1 boolean as key", "yaml", "on: push\n", "a key must be a string, found True")
case("null as key", "yaml", "~: x\n", "a key must be a string, found None")
case("mixed keys deep", "yaml", "instances:\n  - name: team-a\n    3: x\n", "a key must be a string, found 3")
case("undefined alias", "yaml", "image: *nothing\n", f"{F}", "no anchor")
case("recursive alias", "yaml", "a: &a [*a]\n", "recursive alias")
case("recursive alias redefined", "yaml", "x: &a 1\ny: &a [*a]\n", "recursive alias")
_LAUGHS = (
    "a: &a ["
    + ",".join(['"lol"'] * 9)
    + "]\n"
    + "".join(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
)
case("alias bomb (billion laughs, under 1 KB)", "yaml", _LAUGHS, "expands to more than 100000 values")
case(
    "alias bomb in a merge key",
    "yaml",
    _LAUGHS.replace("i: &i", "image: {<<: {x: *h}}\ni: &i"),
    "expands to more than 100000 values",
)
_QUADRATIC = "a: &a " + "x" * 2000 + "\n" + "b: [" + ",".join(["*a"] * 3000) + "]\n"
case("alias fan-out of a long string", "yaml", _QUADRATIC, "unknown key")
case("deep flow nesting", "yaml", "x: " + "[" * 5000 + "]" * 5000 + "\n", f"{F}", "nest")
case("deep block nesting", "yaml", "".join("  " * i + f"k{i}:\n" for i in range(200)), "nested more than 32")
case(
    "oversized file (2 MB)",
    "yaml",
    "# " + "x" * (2 * 1024 * 1024) + "\n",
    f"{F}: the file is 2097155 bytes",
    "at most 1048576",
)
case("many values (120k)", "yaml", "x: [" + ",".join(["1"] * 120_000) + "]\n", "expands to more than 100000")
case("five thousand unknown keys", "yaml", "".join(f"k{i}: 1\n" for i in range(5000)), "unknown key", "more problems")
case("a megabyte-long value", "yaml", "image:\n  tag: " + "x" * 900_000 + "\n", "image.tag", "(900002 characters)")
case(
    "two thousand instances",
    "yaml",
    "instances:\n" + "".join(f"  - name: team-{i}\n" for i in range(2000)),
    "instances: 2000 instances; at most 1000",
)

# --- values the schema refuses -------------------------------------------------------------------------------
for key, value, fragment in (
    ("replicas", "two", "instances[0].replicas: 'two': wrong type str; expected integer"),
    ("replicas", "0", "instances[0].replicas: 0: out of range; allowed 1..50"),
    ("replicas", "51", "out of range; allowed 1..50"),
    ("replicas", "1.5", "wrong type float"),
    ("replicas", "-1", "out of range"),
    ("workers", "0", "instances[0].workers: 0: out of range; allowed 1..32"),
    ("host", "'Not A Host!'", "instances[0].host: 'Not A Host!': must be a lower-case DNS name"),
    ("host", "'UPPER.example.com'", "must be a lower-case DNS name"),
    ("host", "'a..b'", "must be a lower-case DNS name"),
    ("namespace", "Team_A", "instances[0].namespace: 'Team_A': must be an RFC 1123 label"),
    ("namespace", "'" + "n" * 64 + "'", "length must be 0..63 characters"),
    ("url", "'ftp://team-a.example.com'", "instances[0].url: 'ftp://team-a.example.com': must be an http(s) URL"),
    ("url", "'https://team-a.example.com/?q=1'", "must be an http(s) URL"),
    ("defaultPermission", "ALL", "allowed values: READ, EDIT, MANAGE, NO_PERMISSIONS"),
    ("reclaimPolicy", "purge", "allowed values: retain, delete"),
    ("bucket", "Team_Bucket", "instances[0].bucket: 'Team_Bucket': must be an S3 bucket name"),
    ("bucket", "ab", "must be an S3 bucket name"),
    ("vaultPath", "'/abs/path'", "must be a Vault path"),
    ("oidc", "{clientId: 'bad id'}", "instances[0].oidc.clientId: 'bad id': must be a Keycloak client id"),
    ("oidc", "{scopes: []}", "instances[0].oidc.scopes"),
    ("oidc", "{scopes: [openid, openid]}", "has non-unique elements"),
    ("oidc", "{pkce: maybe}", "instances[0].oidc.pkce: 'maybe': wrong type str; expected boolean"),
    ("members", "{admins: ['al ice']}", "instances[0].members.admins[0]: 'al ice': must be a Keycloak user name"),
    ("members", "{upstream: [{identityProvider: corp}]}", "'claim' is a required property"),
    ("database", "{role: 9role}", "instances[0].database.role: '9role': must be a PostgreSQL identifier"),
    ("database", "{name: my-db}", "must be a PostgreSQL identifier"),
    ("resources", "{requests: {cpu: lots}}", "instances[0].resources.requests.cpu: 'lots': must be a CPU quantity"),
    ("resources", "{limits: {memory: 2GB}}", "must be a memory quantity"),
    ("resources", "{limits: {gpu: 1}}", "instances[0].resources.limits.gpu: 'gpu': unknown key"),
    ("sessions", "{store: memcached}", "allowed values: filesystem, redis"),
    ("sessions", "{store: redis, redis: {db: 16}}", "instances[0].sessions.redis.db: 16: out of range"),
    ("sessions", "{store: redis, redis: {port: 0}}", "instances[0].sessions.redis.port: 0: out of range"),
    ("sessions", "{store: redis, redis: {image: 'redis latest'}}", "must be an image reference"),
    ("autoscaling", "{maxReplicas: 100}", "instances[0].autoscaling.maxReplicas: 100: out of range"),
    ("autoscaling", "{targetCpuUtilization: 5}", "out of range; allowed 10..100"),
    ("colour", "blue", "instances[0].colour: 'colour': unknown key"),
):
    case(f"instance {key}: {value[:30]}", "schema", inst(f"{key}: {value}"), full(fragment))
for text, fragment in (
    ("image:\n  pullPolicy: Sometimes\n", "image.pullPolicy: 'Sometimes': allowed values: Always, IfNotPresent, Never"),
    ("image:\n  tag: 'bad tag'\n", "image.tag: 'bad tag': must be an image tag"),
    ("image:\n  digest: sha256:abc\n", "image.digest: 'sha256:abc': must be a digest"),
    ("image:\n  registry: 'https://registry.io'\n", "image.registry: 'https://registry.io': must be a registry"),
    ("image:\n  repository: Team/MLflow\n", "must be an image repository path"),
    ("keycloak:\n  realmm: x\n", "keycloak.realmm: 'realmm': unknown key; allowed keys here: admin, adminClientId"),
    ("keycloak:\n  realm: 'my realm'\n", "keycloak.realm: 'my realm': must be a Keycloak realm name"),
    ("keycloak:\n  host: auth_example\n", "keycloak.host: 'auth_example': must be a lower-case DNS name"),
    ("keycloak:\n  url: auth.example.com\n", "keycloak.url: 'auth.example.com': must be an http(s) URL"),
    ("keycloak:\n  displayName: ''\n", "keycloak.displayName: '': length must be 1..64"),
    ("keycloak:\n  admin: {userKey: 'a key'}\n", "keycloak.admin.userKey: 'a key': must be a Secret key"),
    ("postgres:\n  port: 70000\n", "postgres.port: 70000: out of range; allowed 1..65535"),
    ("postgres:\n  port: '5432'\n", "postgres.port: '5432': wrong type str; expected integer"),
    ("postgres:\n  sslMode: sometimes\n", "allowed values: disable, allow, prefer, require, verify-ca, verify-full"),
    ("s3:\n  ignoreTls: 'yes'\n", "s3.ignoreTls: 'yes': wrong type str; expected boolean"),
    ("s3:\n  region: EU West\n", "s3.region: 'EU West'"),
    ("vault:\n  storeKind: Vault\n", "vault.storeKind: 'Vault': allowed values: ClusterSecretStore, SecretStore"),
    ("vault:\n  refreshInterval: 1d\n", "vault.refreshInterval: '1d': must be a duration"),
    ("ingress:\n  entryPoint: 'web secure'\n", "must be a Traefik entry point name"),
    (
        "monitoring:\n  release: 'kube prometheus'\n",
        "monitoring.release: 'kube prometheus': must be a Kubernetes label",
    ),
    ("monitoring:\n  enabled: sometimes\n", "monitoring.enabled: 'sometimes': wrong type str; expected boolean"),
    ("gitops:\n  engine: helm\n", "gitops.engine: 'helm': allowed values: flux, argocd"),
    (
        "gitops:\n  repository: {url: 'git.example.com/x'}\n",
        "gitops.repository.url: 'git.example.com/x': must be a Git",
    ),
    ("network:\n  keycloakPorts: []\n", "network.keycloakPorts"),
    ("network:\n  allowFrom: [Data_Science]\n", "network.allowFrom[0]: 'Data_Science': must be an RFC 1123 label"),
    ("network:\n  s3Cidrs: [everywhere]\n", "network.s3Cidrs[0]: 'everywhere': must be a CIDR"),
    ("instances: []\n", "instances"),
    ("instances: team-a\n", "instances: 'team-a': wrong type str; expected array"),
    ("instances:\n  - host: a.example.com\n", "instances[0]: 'name' is a required property"),
    ("bootstrap:\n  minio: {versoning: true}\n", "bootstrap.minio.versoning: 'versoning': unknown key"),
):
    case(f"schema: {text.splitlines()[0][:40]} {text.splitlines()[-1].strip()[:30]}", "schema", text, full(fragment))

# --- keys that contradict each other -------------------------------------------------------------------------
for name, text, fragment in (
    (
        "TLS secret and resolver",
        "ingress:\n  tls: {secretName: a, certResolver: b}\n",
        "ingress.tls: secretName and certResolver contradict each other",
    ),
    (
        "admin Secrets collide",
        "s3:\n  admin: {secretName: keycloak-credentials}\n",
        "s3.admin.secretName: 'keycloak-credentials': the same Secret as keycloak.admin.secretName",
    ),
    (
        "admin Secret is an instance Secret",
        "keycloak:\n  admin: {secretName: mlflow-db-secret}\n",
        "keycloak.admin.secretName: 'mlflow-db-secret': collides with a Secret of instances[0]",
    ),
    (
        "Argo CD without a repository",
        "gitops:\n  engine: argocd\n",
        "gitops.repository.url: Argo CD Applications need the GitOps repository's URL",
    ),
    (
        "per-namespace stores with the shared store's kind",
        "vault:\n  namespaceStore: {server: 'https://vault.example.com'}\n",
        "vault.storeKind: 'ClusterSecretStore': vault.namespaceStore renders SecretStores: it needs vault.storeKind "
        "SecretStore",
    ),
    (
        "per-namespace store without a server",
        "vault:\n  storeKind: SecretStore\n  namespaceStore: {kvMount: kv}\n",
        "vault.namespaceStore: 'server' is a required property",
    ),
    (
        "replicas with pod-local sessions",
        inst("replicas: 2"),
        "instances[0].replicas: 2: more than one replica needs sessions.store: redis",
    ),
    (
        "autoscaling with pod-local sessions",
        inst("autoscaling: {enabled: true}"),
        "instances[0].autoscaling.enabled: True: autoscaling runs several replicas",
    ),
    (
        "autoscaling min above max",
        inst("sessions: {store: redis}, autoscaling: {enabled: true, minReplicas: 6}"),
        "instances[0].autoscaling: minReplicas 6 exceeds maxReplicas 5",
    ),
    (
        "PKCE the plugin does not send",
        inst("oidc: {pkce: true}"),
        "instances[0].oidc.pkce: True: the MLflow OIDC plugin (mlflow-oidc-auth 5.6.1) sends no PKCE code_challenge",
    ),
    (
        "members without the Keycloak Job",
        "bootstrap: {keycloak: {enabled: false}}\n" + inst("members: {admins: [alice]}"),
        "instances[0].members: the keycloak-setup Job keeps the memberships, and bootstrap.keycloak.enabled is false",
    ),
    (
        "retired with nothing to clean up",
        "bootstrap: {keycloak: {enabled: false}, minio: {enabled: false}}\n" + inst("retired: true"),
        "instances[0].retired: True: nothing to clean up",
    ),
    (
        "retired instance sharing a group with a live one",
        "instances:\n  - {name: old, retired: true, oidc: {userGroup: ml-users}}\n"
        "  - {name: new, oidc: {userGroup: ml-users}}\n",
        "instances[0].oidc.userGroup: 'ml-users': the cleanup would delete this Keycloak group, which instance new",
    ),
    (
        "bucket cleanup of a live instance",
        inst("cleanup: {bucket: force}"),
        "instances[0].cleanup.bucket: 'force': applies only to a retired instance",
    ),
    (
        "upstream entry mapping nothing",
        inst("members: {upstream: [{identityProvider: corp, claim: groups}]}"),
        "instances[0].members.upstream[0]: maps no group",
    ),
    (
        "Redis neither rendered nor named",
        inst("sessions: {store: redis, redis: {deploy: false}}"),
        "instances[0].sessions.redis.host: sessions.redis.deploy is false",
    ),
    (
        "Redis rendered and named",
        inst("sessions: {store: redis, redis: {host: redis.acme.io}}"),
        "instances[0].sessions.redis: deploy and host contradict each other",
    ),
    (
        "public URL on another host",
        inst("host: a.example.com, url: 'https://b.example.com'"),
        "instances[0].url: 'https://b.example.com': its host must be the instance host 'a.example.com'",
    ),
    (
        "tracking and auth database the same",
        inst("database: {name: team_db, authName: team_db}"),
        "instances[0].database: 'team_db': name and authName must differ",
    ),
    (
        "duplicate instance names",
        "instances:\n  - name: team-a\n  - name: team-a\n",
        "instances[1].name: 'team-a': instance name already used by instances[0]",
    ),
    (
        "duplicate namespaces",
        "instances:\n  - {name: team-a, namespace: ml}\n  - {name: team-b, namespace: ml}\n",
        "instances[1].namespace: 'ml': namespace already used by instances[0]",
    ),
    (
        "duplicate hosts",
        "instances:\n  - {name: team-a, host: x.io}\n  - {name: team-b, host: x.io}\n",
        "instances[1].host: 'x.io': host already used by instances[0]",
    ),
    (
        "duplicate client ids",
        "instances:\n  - {name: team-a}\n  - {name: team-b, oidc: {clientId: team-a}}\n",
        "instances[1].oidc.clientId: 'team-a': Keycloak client id already used",
    ),
    (
        "duplicate buckets",
        "instances:\n  - {name: team-a}\n  - {name: team-b, bucket: team-a}\n",
        "instances[1].bucket: 'team-a': bucket already used by instances[0]",
    ),
    (
        "duplicate Vault paths",
        "instances:\n  - {name: team-a}\n  - {name: team-b, vaultPath: team-a}\n",
        "instances[1].vaultPath: 'team-a': Vault path already used",
    ),
    (
        "duplicate database roles",
        "instances:\n  - {name: team-a}\n  - {name: team-b, database: {role: team_a}}\n",
        "instances[1].database.role: 'team_a': database role already used",
    ),
    (
        "database of another instance",
        "instances:\n  - {name: team-a}\n  - {name: team-b, database: {name: team_a}}\n",
        "instances[1].database: 'team_a': database already used by instances[0]",
    ),
):
    case(name, "contradiction", text, f"{F}: {fragment}")

# --- names the render derives, over the cluster's limits -----------------------------------------------------
LONG38 = "t" * 38
for name, text, fragments in (
    (
        "Job name over 63 (38-character instance)",
        f"instances:\n  - name: {LONG38}\n",
        (
            f"instances[0].name: '{LONG38}': too long: it makes the Job name "
            f"'{LONG38}-keycloak-setup-<10-character hash>' "
            "of 64 characters",
            "use at most 37 characters",
        ),
    ),
    (
        "Job name over 63 without the Keycloak Job",
        f"bootstrap:\n  keycloak: {{enabled: false}}\ninstances:\n  - name: {'t' * 40}\n",
        ("db-migration-<10-character hash>'", "use at most 39 characters"),
    ),
    (
        "Service name starts with a digit",
        "instances:\n  - name: 9lives\n    bucket: nine-lives\n    database: {role: nine_lives}\n",
        ("instances[0].name: '9lives': it makes the Service name '9lives'", "must be an RFC 1035 label"),
    ),
    (
        "Redis Service name over 63",
        "instances:\n  - name: " + "r" * 40 + "\n    sessions: {store: redis}\n",
        ("too long",),
    ),
    (
        "one-character instance: bucket",
        "instances:\n  - name: a\n",
        (
            "instances[0].name: 'a': the bucket name 'a' has 1 character; an S3 bucket name needs 3 to 63",
            "set instances[0].bucket to choose it",
        ),
    ),
    ("two-character instance: bucket", "instances:\n  - name: ab\n", ("the bucket name 'ab' has 2 characters",)),
    ("bucket with '..'", inst("bucket: 'a..b'"), ("instances[0].bucket: 'a..b': the bucket name 'a..b' must not",)),
    ("bucket like an IP address", inst("bucket: 192.168.1.10"), ("must not look like an IP address",)),
    ("bucket with a reserved prefix", inst("bucket: xn--team"), ("must not start with 'xn--'",)),
    ("bucket with a reserved suffix", inst("bucket: team-s3alias"), ("must not end with '-s3alias'",)),
    (
        "role reserved by CloudNativePG",
        inst("database: {role: postgres}"),
        ("instances[0].database.role: 'postgres': the PostgreSQL role name 'postgres' is reserved",),
    ),
    ("role reserved by PostgreSQL", inst("database: {role: pg_team}"), ("must not start with 'pg_'",)),
    (
        "database is a system database",
        inst("database: {name: template1}"),
        ("instances[0].database.name: 'template1': the database name 'template1' is a PostgreSQL system database",),
    ),
    (
        "auth database derived over 63",
        "instances:\n  - name: " + "d" * 60 + "\n",
        ("the auth database name", "is 65 characters", "set instances[0].database.authName to choose it"),
    ),
    (
        "auth database name over 63",
        inst("database: {role: " + "r" * 60 + "}"),
        (
            "instances[0].database.role",
            "the auth database name",
            "is 65 characters; PostgreSQL keeps only the first 63",
            "set instances[0].database.authName to choose it",
        ),
    ),
    (
        "instance name of 63 makes long derived names",
        "instances:\n  - name: " + "n" * 63 + "\n",
        ("too long", "use at most 37"),
    ),
):
    case(name, "derived", text, *map(full, fragments))
case(
    "environment name too long for the Kustomization names",
    "derived",
    None,
    "environments/" + "e" * 50 + ".yaml: the environment name",
    "Kustomization name 'mlflow-" + "e" * 50 + "-bootstrap'",
    "at most 46 characters",
    files={"environments/" + "e" * 50 + ".yaml": "{}\n"},
    args=(*SYNTH, "--env", "e" * 50),
)

# --- CIDRs, ports, quantities, paths, branches, durations ----------------------------------------------------
for name, text, fragment in (
    (
        "CIDR out of range",
        "network:\n  s3Cidrs: [999.1.1.1/99]\n",
        "network.s3Cidrs[0]: '999.1.1.1/99': must be a CIDR",
    ),
    ("CIDR prefix too long", "network:\n  postgresCidrs: [10.0.0.0/33]\n", "network.postgresCidrs[0]: '10.0.0.0/33'"),
    ("CIDR with host bits", "network:\n  keycloakCidrs: [10.0.0.1/8]\n", "write 10.0.0.0/8"),
    ("CIDR with leading zeros", "network:\n  s3Cidrs: [010.0.0.0/8]\n", "network.s3Cidrs[0]: '010.0.0.0/8'"),
    ("IPv6 CIDR with host bits", "network:\n  s3Cidrs: ['fd00::1/64']\n", "write fd00::/64"),
    (
        "URL port 99999",
        inst("url: 'https://team-a.example.com:99999'"),
        "instances[0].url: 'https://team-a.example.com:99999': port '99999' is not a TCP port; allowed 1..65535",
    ),
    (
        "URL port 0",
        "s3:\n  endpoint: 'http://minio.minio.svc:0'\n",
        "s3.endpoint: 'http://minio.minio.svc:0': port '0'",
    ),
    ("Keycloak URL port 65536", "keycloak:\n  url: 'https://auth.example.com:65536'\n", "keycloak.url"),
    (
        "Argo CD destination port",
        "gitops:\n  argocd: {destinationServer: 'https://k8s:123456'}\n",
        "gitops.argocd.destinationServer",
    ),
    (
        "CPU request above limit",
        inst("resources: {requests: {cpu: '2'}}"),
        "instances[0].resources.requests.cpu: '2': the request exceeds the limit '1'",
    ),
    (
        "memory request above limit",
        inst("resources: {requests: {memory: 3Gi}, limits: {memory: 2Gi}}"),
        "instances[0].resources.requests.memory: '3Gi': the request exceeds the limit '2Gi'",
    ),
    (
        "memory in other units above limit",
        inst("resources: {requests: {memory: 600M}, limits: {memory: 512Mi}}"),
        "the request exceeds the limit '512Mi'",
    ),
    (
        "zero CPU limit",
        inst("resources: {requests: {cpu: '0'}, limits: {cpu: 0m}}"),
        "instances[0].resources.limits.cpu: '0m': a limit of zero",
    ),
    (
        "GitOps path escapes the repository",
        "gitops:\n  path: ../../x\n",
        "gitops.path: '../../x': must stay inside the repository",
    ),
    ("GitOps path escapes in the middle", "gitops:\n  path: clusters/../../x\n", "must stay inside the repository"),
    ("GitOps path into .git", "gitops:\n  path: .git/hooks\n", "gitops.path: '.git/hooks': must not point into .git"),
    ("branch with '..'", "gitops:\n  repository: {branch: 'a..b'}\n", "gitops.repository.branch: 'a..b'"),
    ("branch ending in .lock", "gitops:\n  repository: {branch: main.lock}\n", "end with '.lock'"),
    ("branch starting with '-'", "gitops:\n  repository: {branch: -main}\n", "gitops.repository.branch: '-main'"),
    ("branch with a trailing slash", "gitops:\n  repository: {branch: release/}\n", "must not start or end with '/'"),
    (
        "duration beyond Go's range",
        "gitops:\n  interval: 9999999999h\n",
        "gitops.interval: '9999999999h': is longer than a Go duration can hold",
    ),
    ("zero reconcile interval", "gitops:\n  interval: 0s\n", "gitops.interval: '0s': must be longer than zero"),
    (
        "Prometheus duration out of order",
        "monitoring:\n  interval: 30s1m\n",
        "monitoring.interval: '30s1m': Prometheus durations take each unit once",
    ),
    (
        "scrape timeout above interval",
        WITH_PROMETHEUS + "monitoring:\n  interval: 10s\n  scrapeTimeout: 30s\n",
        "monitoring.scrapeTimeout: '30s': longer than monitoring.interval '10s'",
    ),
):
    case(name, "limits", text, full(fragment))

case(
    "verify-full without a CA",
    "contradictions",
    "postgres:\n  sslMode: verify-full\n",
    f"{F}: postgres.sslMode: 'verify-full': libpq then verifies the server's certificate against a CA, and none is "
    "configured",
)
case("verify-ca without a CA", "contradictions", "postgres:\n  sslMode: verify-ca\n", "set postgres.ca")

# --- the old chart's options ----------------------------------------------------------------------------------
case(
    "extraEnv overrides a rendered variable",
    "limits",
    inst("server: {extraEnv: {OIDC_CLIENT_SECRET: x}}"),
    f"{F}: instances[0].server.extraEnv.OIDC_CLIENT_SECRET: 'OIDC_CLIENT_SECRET': the render sets this variable",
)
case(
    "pod label in the render's namespace",
    "limits",
    inst("pods: {labels: {app.kubernetes.io/name: x}}"),
    f"{F}: instances[0].pods.labels.app.kubernetes.io/name: 'app.kubernetes.io/name': app.kubernetes.io/* labels",
)
case(
    "toleration with an unknown effect",
    "schema",
    inst("pods: {tolerations: [{key: a, effect: Never}]}"),
    f"{F}: instances[0].pods.tolerations[0].effect: 'Never'",
)
case("log level unknown", "schema", inst("server: {logLevel: LOUD}"), f"{F}: instances[0].server.logLevel: 'LOUD'")
case(
    "static prefix without a slash",
    "schema",
    inst("server: {staticPrefix: mlflow}"),
    f"{F}: instances[0].server.staticPrefix: 'mlflow'",
)

case(
    "sidecar named like a rendered container",
    "limits",
    inst("server: {sidecars: [{name: metrics, image: 'x:1'}]}"),
    f"{F}: instances[0].server.sidecars[0].name: 'metrics': a container of the server pod already has this name",
)
case(
    "mount of a volume the pod lacks",
    "limits",
    inst("server: {extraVolumeMounts: [{name: data, mountPath: /d}]}"),
    f"{F}: instances[0].server.extraVolumeMounts[0].name: 'data': no volume of this name in extraVolumes",
)
case(
    "extra volume of a forbidden type",
    "schema",
    inst("server: {extraVolumes: [{name: host, hostPath: {path: /}}]}"),
    f"{F}: instances[0].server.extraVolumes[0]",
)
case(
    "sidecar on a privileged port",
    "schema",
    inst("server: {sidecars: [{name: web, image: 'x:1', ports: [{containerPort: 80}]}]}"),
    f"{F}: instances[0].server.sidecars[0].ports[0].containerPort: 80",
)

# --- the server's /tmp (MLflow spools proxied artifact transfers there) ---------------------------------------
case(
    "tmp on tmpfs larger than the memory limit",
    "limits",
    inst("tmp: {sizeLimit: 4Gi, medium: memory}"),
    f"{F}: instances[0].tmp.sizeLimit: '4Gi': with medium memory /tmp is tmpfs counted against the memory limit '2Gi'",
)
case("tmp of zero bytes", "limits", inst("tmp: {sizeLimit: '0'}"), f"{F}: instances[0].tmp.sizeLimit: '0': zero")
case("tmp medium unknown", "schema", inst("tmp: {medium: ssd}"), f"{F}: instances[0].tmp.medium: 'ssd'")

# --- what the declared cluster cannot serve (cluster.apiVersions / kubeVersion) --------------------------------
for name, text, fragment in (
    (
        "ServiceMonitor without the Prometheus Operator",
        "monitoring:\n  enabled: true\n",
        "monitoring.enabled: the render needs ServiceMonitor (monitoring.coreos.com/v1) for Prometheus' scrape of the "
        "metrics port (the Prometheus Operator), and cluster.apiVersions does not list it: add "
        "monitoring.coreos.com/v1",
    ),
    ("ServiceMonitor asked for by MONITORING_ENABLED is refused too", None, None),
    (
        "DatabaseRole on CloudNativePG 1.27",
        "postgres:\n  roleManagement: DatabaseRole\n",
        "postgres.roleManagement: the render needs DatabaseRole (postgresql.cnpg.io/v1) for the login role "
        "(CloudNativePG 1.30 or newer; on 1.27-1.29 set postgres.roleManagement: job)",
    ),
    (
        "Argo CD not installed",
        "gitops:\n  engine: argocd\n  repository: {url: 'https://g.example.com/x.git'}\n",
        "gitops.engine: the render needs Application (argoproj.io/v1alpha1) for Argo CD's ordered units",
    ),
    (
        "no External Secrets",
        "cluster:\n  apiVersions: [postgresql.cnpg.io/v1, traefik.io/v1alpha1, kustomize.toolkit.fluxcd.io/v1]\n",
        "vault: the render needs ExternalSecret (external-secrets.io/v1)",
    ),
    (
        "no Traefik",
        "cluster:\n  apiVersions: [postgresql.cnpg.io/v1, external-secrets.io/v1, kustomize.toolkit.fluxcd.io/v1]\n",
        "ingress.enabled: the render needs IngressRoute (traefik.io/v1alpha1)",
    ),
    (
        "Kubernetes too old",
        "cluster:\n  kubeVersion: '1.26'\n",
        "cluster.kubeVersion: '1.26': older than Kubernetes 1.27",
    ),
    (
        "API version malformed",
        "cluster:\n  apiVersions: [monitoring.coreos.com]\n",
        "cluster.apiVersions[0]: 'monitoring.coreos.com'",
    ),
    ("kubeVersion with a patch", "cluster:\n  kubeVersion: '1.31.2'\n", "cluster.kubeVersion: '1.31.2'"),
):
    if text is None:
        case(
            name,
            "cluster",
            "{}\n",
            "environment variable MONITORING_ENABLED: monitoring.enabled: the render needs ServiceMonitor",
            environ={"MONITORING_ENABLED": "true"},
        )
    else:
        case(name, "cluster", text, full(fragment))

# --- instance namespaces that belong to the platform ---------------------------------------------------------
for namespace, reason in (
    ("postgres", "postgres.namespace (PostgreSQL)"),
    ("minio", "s3.minioNamespace (MinIO)"),
    ("keycloak", "network.keycloakNamespace (Keycloak)"),
    ("traefik", "a namespace of Kubernetes or of the platform"),
    ("kube-system", "network.dnsNamespace"),
    ("monitoring", "monitoring.prometheusNamespace"),
    ("flux-system", "gitops.namespace"),
    ("kube-public", "a namespace of Kubernetes"),
    ("default", "a namespace of Kubernetes"),
    ("cnpg-system", "a namespace of Kubernetes or of the platform"),
):
    case(
        f"instance namespace {namespace}",
        "namespace",
        inst(f"namespace: {namespace}"),
        f"{F}: instances[0].namespace: '{namespace}': the instance namespace '{namespace}' is {reason}",
    )
case(
    "instance namespace = network.ingressNamespace",
    "namespace",
    "network:\n  ingressNamespace: ingress\n" + inst("namespace: ingress"),
    f"{F}: instances[0].namespace: 'ingress': the instance namespace 'ingress' is network.ingressNamespace",
)
case(
    "instance named like the PostgreSQL namespace",
    "namespace",
    "instances:\n  - name: postgres\n",
    f"{F}: instances[0].name: 'postgres': the instance namespace 'postgres' is postgres.namespace",
)
case(
    "instance namespace set by MLFLOW_NAMESPACE",
    "namespace",
    "{}\n",
    "environment variable MLFLOW_NAMESPACE: instances[0].namespace: 'kube-system'",
    environ={"MLFLOW_NAMESPACE": "kube-system"},
)
case(
    "PostgreSQL namespace moved onto the instance's",
    "namespace",
    inst("namespace: data"),
    "instances[0].namespace: 'data': the instance namespace 'data' is postgres.namespace",
    environ={"POSTGRES_NAMESPACE": "data"},
)
case(
    "instance namespace is an allowFrom client",
    "namespace",
    "network:\n  allowFrom: [notebooks]\n" + inst("namespace: notebooks"),
    "network.allowFrom (client namespace",
)

# --- objects of two instances that collide after derivation --------------------------------------------------
case(
    "Database <a>-auth of two instances",
    "collision",
    "instances:\n  - name: team\n  - name: team-auth\n",
    f"{F}: instances[1].name: 'team-auth': its Database 'team-auth' in namespace 'postgres' is also rendered by "
    "instances[0] ('team')",
)
case(
    "Database of the default instance",
    "collision",
    "instances:\n  - name: mlflow\n  - name: mlflow-auth\n",
    "its Database 'mlflow-auth' in namespace 'postgres'",
)

# --- environment variables ------------------------------------------------------------------------------------
for var, value, fragment in (
    ("MONITORING_ENABLED", "", "monitoring.enabled: '': set but empty"),
    ("MONITORING_ENABLED", "  ", "monitoring.enabled: '  ': set but empty"),
    ("MONITORING_ENABLED", "maybe", "monitoring.enabled: 'maybe': expected true or false"),
    ("MLFLOW_IMAGE_TAG", "", "image.tag: '': set but empty"),
    ("MLFLOW_HOST", "bad_host", "instances[0].host: 'bad_host': must be a lower-case DNS name"),
    ("MLFLOW_HOST", "", "instances[0].host: '': set but empty"),
    ("MLFLOW_NAMESPACE", "Bad", "instances[0].namespace: 'Bad': must be an RFC 1123 label"),
    ("MLFLOW_IMAGE_PULL_POLICY", "always", "image.pullPolicy: 'always': allowed values"),
    ("IMAGE_REGISTRY", "http://r.io", "image.registry: 'http://r.io': must be a registry"),
    ("KEYCLOAK_REALM", "my realm", "keycloak.realm: 'my realm'"),
    ("KEYCLOAK_HOST", "x" * 300, "keycloak.host: 'xxxxxxxxxx"),
    ("POSTGRES_NAMESPACE", "-db", "postgres.namespace: '-db': must be an RFC 1123 label"),
    ("PROMETHEUS_NAMESPACE", "", "monitoring.prometheusNamespace: '': set but empty"),
    ("MINIO_NAMESPACE", "minio_ns", "s3.minioNamespace: 'minio_ns'"),
):
    case(
        f"variable {var}={value[:12]!r}",
        "environment",
        "{}\n",
        f"environment variable {var}: {fragment}",
        environ={var: value},
    )
case(
    "single-instance variable, two instances",
    "environment",
    "instances:\n  - {name: team-a}\n  - {name: team-b}\n",
    "environment variable MLFLOW_HOST: instances: applies only to an environment with exactly one instance",
    environ={"MLFLOW_HOST": "x.io"},
)

# --- credentials typed into URLs are never echoed -------------------------------------------------------------
PASSWORD = "s3cr3t-Passw0rd"
for name, text, fragment, environ in (
    (
        "Keycloak URL with a password",
        f"keycloak:\n  url: 'https://admin:{PASSWORD}@auth.example.com'\n",
        "keycloak.url: 'https://***@auth.example.com'",
        {},
    ),
    ("S3 endpoint with keys", f"s3:\n  endpoint: 'http://root:{PASSWORD}@minio:9000'\n", "'http://***@minio:9000'", {}),
    ("instance URL with a password", inst(f"url: 'https://u:{PASSWORD}@team-a.example.com'"), "https://***@", {}),
    (
        "repository URL with a token",
        f"gitops:\n  repository: {{url: 'https://x-token:{PASSWORD}@github.com/o/r.git'}}\n",
        "gitops.repository.url: 'https://***@github.com/o/r.git': holds a password or token",
        {},
    ),
    (
        "repository URL with a bare token",
        f"gitops:\n  repository: {{url: 'https://{PASSWORD}@github.com/o/r.git'}}\n",
        "holds a user name or token",
        {},
    ),
    (
        "host variable with a password",
        "{}\n",
        "instances[0].host: 'https://***@x.io'",
        {"MLFLOW_HOST": f"https://u:{PASSWORD}@x.io"},
    ),
):
    case(name, "credentials", text, fragment, secret=PASSWORD, environ=environ)


# --- the config folder and its files --------------------------------------------------------------------------
def _symlink(name: str, target: str) -> Callable[[Path], None]:
    return lambda root: os.symlink(target, root / "environments" / name)


def _device_named(root: Path, name: str) -> None:
    path = root / "environments" / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    except OSError:  # no mknod here: a link to a device is the same to the loader
        os.symlink("/dev/null", path)


def _remove_config(root: Path) -> None:
    for entry in (root / "environments").iterdir():
        entry.unlink()
    (root / "environments").rmdir()


def _config_is_a_file(root: Path) -> None:
    _remove_config(root)
    (root / "environments").write_text("not a folder\n")


for name, setup, expect, args in (
    (
        "missing --config-dir",
        None,
        ("--config-dir environmnets: no such folder",),
        ("synth", "--config-dir", "environmnets", "--out", "out"),
    ),
    (
        "--config-dir is a file",
        None,
        ("--config-dir environments/dev.yaml: not a folder",),
        ("synth", "--config-dir", "environments/dev.yaml", "--out", "out"),
    ),
    (
        "--config-dir a dangling link",
        lambda root: os.symlink("gone", root / "cfg"),
        ("--config-dir cfg: a symbolic link to 'gone', which does not exist",),
        ("synth", "--config-dir", "cfg", "--out", "out"),
    ),
    (
        "--config-dir a looping link",
        lambda root: (os.symlink("loop-b", root / "loop-a"), os.symlink("loop-a", root / "loop-b")),
        ("--config-dir loop-a: a symbolic link that loops",),
        ("synth", "--config-dir", "loop-a", "--out", "out"),
    ),
    (
        "--config-dir empty",
        lambda root: (root / "empty").mkdir(),
        ("--config-dir empty: holds no environment file",),
        ("synth", "--config-dir", "empty", "--out", "out"),
    ),
    (
        "environments/ is a file (no --config-dir)",
        _config_is_a_file,
        ("--config-dir environments: not a folder",),
        ("synth", "--out", "out"),
    ),
    (
        "environments/ empty (no --config-dir)",
        lambda root: (root / "environments" / "dev.yaml").unlink(),
        ("--config-dir environments: holds no environment file",),
        ("synth", "--out", "out"),
    ),
    (
        "dangling link in the folder",
        _symlink("prod.yaml", "prod-v2.yaml"),
        ("environments/prod.yaml: a symbolic link to 'prod-v2.yaml', which does not exist",),
        SYNTH,
    ),
    (
        "looping link in the folder",
        lambda root: (_symlink("a.yaml", "b.yaml")(root), _symlink("b.yaml", "a.yaml")(root)),
        ("environments/a.yaml: a symbolic link that loops", "environments/b.yaml: a symbolic link that loops"),
        SYNTH,
    ),
    (
        "FIFO in the folder",
        lambda root: os.mkfifo(root / "environments" / "prod.yaml"),
        ("environments/prod.yaml: a FIFO (named pipe), not an environment file",),
        SYNTH,
    ),
    (
        "FIFO selected with --env",
        lambda root: os.mkfifo(root / "environments" / "prod.yaml"),
        ("environments/prod.yaml: a FIFO",),
        (*SYNTH, "--env", "prod"),
    ),
    (
        "device in the folder",
        lambda root: _device_named(root, "prod.yaml"),
        ("environments/prod.yaml: a character device, not an environment file",),
        SYNTH,
    ),
    (
        "folder named like a file",
        lambda root: (root / "environments" / "prod.yaml").mkdir(),
        ("environments/prod.yaml: a folder, not an environment file",),
        SYNTH,
    ),
    (
        "x.yaml next to x.yml",
        lambda root: (root / "environments" / "dev.yml").write_text("{}\n"),
        ("environments/dev.yml: dev.yaml defines the environment 'dev' too",),
        SYNTH,
    ),
    (
        "upper-case suffix",
        lambda root: (root / "environments" / "prod.YAML").write_text("{}\n"),
        ("environments/prod.YAML: the suffix must be .yaml or .yml in lower case",),
        SYNTH,
    ),
    (
        "file name not a label",
        lambda root: (root / "environments" / "Prod_EU.yaml").write_text("{}\n"),
        ("environments/Prod_EU.yaml: 'Prod_EU': an environment file name must be an RFC 1123 label",),
        SYNTH,
    ),
    (
        "unknown --env",
        None,
        ("--env: 'stagin': no such environment in environments; available: default, dev",),
        (*SYNTH, "--env", "stagin"),
    ),
    (
        "--env twice",
        None,
        ("--env: 'dev,dev': an environment is named twice",),
        (*SYNTH, "--env", "dev", "--env", "dev"),
    ),
):
    CASES.append(Case(name, "files", expect, {"environments/dev.yaml": "{}\n"}, args, setup=setup))


# --- command lines that would write where they must not --------------------------------------------------------
def _user_folder(root: Path) -> None:
    (root / "out" / "dev").mkdir()
    (root / "out" / "dev" / "notes.md").write_text("my notes\n")


def _linked_env(root: Path) -> None:
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "precious.txt").write_text("keep\n")
    os.symlink(root / "elsewhere", root / "out" / "dev")


def _edited(root: Path) -> None:
    (root / "out" / "keep" / "added-by-hand.yaml").write_text("kind: ConfigMap\n")


for name, setup, args, expect, environ in (
    ("--out /", None, ("synth", "--out", "/"), ("--out /: is the root folder",), {}),
    (
        "--out the home folder",
        lambda root: (root / "home").mkdir(),
        ("synth", "--out", "home"),
        ("--out home: is your home folder",),
        {"HOME": "home"},
    ),
    (
        "--out above the home folder",
        lambda root: (root / "home" / "me").mkdir(parents=True),
        ("synth", "--out", "home"),
        ("--out home: is your home folder", "or a folder above it"),
        {"HOME": "home/me"},
    ),
    (
        "--out the config folder",
        None,
        ("synth", "--config-dir", "environments", "--out", "environments"),
        ("--out environments: is the config folder environments",),
        {},
    ),
    (
        "--config-dir cfg/prod --out cfg",
        lambda root: (
            (root / "cfg" / "prod").mkdir(parents=True),
            (root / "cfg" / "prod" / "x.yaml").write_text("{}\n"),
        ),
        ("synth", "--config-dir", "cfg/prod", "--out", "cfg"),
        ("--out cfg: is the config folder cfg/prod or a folder above it",),
        {},
    ),
    ("--out . above the config folder", None, ("synth", "--out", "."), ("--out .: is the config folder",), {}),
    (
        "--out a file",
        lambda root: (root / "out.txt").write_text("x\n"),
        (*SYNTH[:3], "--out", "out.txt"),
        ("--out out.txt: exists and is not a folder",),
        {},
    ),
    (
        "user folder named like the environment",
        _user_folder,
        (*SYNTH, "--env", "dev"),
        ("out/dev holds files mlflow-gitops did not write for environment 'dev'", "out/dev/notes.md"),
        {},
    ),
    (
        "environment folder is a symbolic link",
        _linked_env,
        (*SYNTH, "--env", "dev"),
        ("out/dev is a symbolic link, not a folder mlflow-gitops wrote",),
        {},
    ),
    (
        "environment entry is a file",
        lambda root: (root / "out" / "dev").write_text("x\n"),
        (*SYNTH, "--env", "dev"),
        ("out/dev exists and is not a folder",),
        {},
    ),
    (
        "file added by hand to a rendered folder",
        _edited,
        ("synth", "--config-dir", "environments", "--out", "out", "--env", "keep"),
        ("out/keep holds files mlflow-gitops did not write", "out/keep/added-by-hand.yaml"),
        {},
    ),
    (
        "diff --path outside the repository",
        None,
        ("diff", "--config-dir", "environments", "--against", "out", "--path", "../x"),
        ("--path '../x': must stay inside",),
        {},
    ),
    (
        "publish --path absolute",
        None,
        ("publish", "--config-dir", "environments", "--repo", "out", "--path", "/x"),
        ("--path '/x': must be a folder relative",),
        {},
    ),
    (
        "diff with a missing --config-dir",
        None,
        ("diff", "--config-dir", "nope", "--against", "out"),
        ("--config-dir nope: no such folder",),
        {},
    ),
    (
        "validate with a missing --config-dir",
        None,
        ("validate", "--config-dir", "nope"),
        ("--config-dir nope: no such folder",),
        {},
    ),
):
    CASES.append(
        Case(
            name,
            "command line",
            expect,
            {"environments/dev.yaml": "{}\n", "environments/keep.yaml": "{}\n"},
            args,
            environ,
            setup,
        )
    )
