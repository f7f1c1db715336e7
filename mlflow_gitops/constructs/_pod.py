"""Pod building blocks shared by the Deployment and the Jobs: Pod Security "restricted" by construction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cdk8s import ApiObject, JsonPatch
from cdk8s_plus_28 import k8s

from mlflow_gitops import names as n
from mlflow_gitops.config import EnvironmentSettings, InstanceSettings
from mlflow_gitops.config.settings import Resources

RUN_AS_USER = 10001
"""A high UID (checkov CKV_K8S_40): no clash with a host user; the image runs as it too (image/Dockerfile)."""
SCRIPTS_VOLUME = "scripts"


def content_hash(value: Any, length: int = 10) -> str:
    """A short, stable hash of JSON-able content (keys sorted)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:length]


def pod_security_context() -> k8s.PodSecurityContext:
    return k8s.PodSecurityContext(
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_USER,
        fs_group=RUN_AS_USER,
        seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.SecurityContext:
    return k8s.SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_USER,
        capabilities=k8s.Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
    )


def resources(res: Resources) -> k8s.ResourceRequirements:
    return k8s.ResourceRequirements(
        requests={"cpu": k8s.Quantity.from_string(res.cpu_request),
                  "memory": k8s.Quantity.from_string(res.memory_request)},
        limits={"cpu": k8s.Quantity.from_string(res.cpu_limit),
                "memory": k8s.Quantity.from_string(res.memory_limit)},
    )


SMALL = Resources(cpu_request="10m", memory_request="64Mi", cpu_limit="200m", memory_limit="256Mi")
"""Resources of helper containers (wait-for-postgres, metrics)."""
JOB = Resources(cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi")
"""Resources of one-shot Jobs (migration)."""


def secret_env(name: str, secret: str, key: str) -> k8s.EnvVar:
    return k8s.EnvVar(
        name=name, value_from=k8s.EnvVarSource(secret_key_ref=k8s.SecretKeySelector(name=secret, key=key))
    )


def plain_env(values: Mapping[str, str]) -> list[k8s.EnvVar]:
    return [k8s.EnvVar(name=key, value=value) for key, value in values.items()]


def config_map_env(config_map: str) -> k8s.EnvFromSource:
    return k8s.EnvFromSource(config_map_ref=k8s.ConfigMapEnvSource(name=config_map))


def postgres_env(env: EnvironmentSettings, instance: InstanceSettings, names: n.Names) -> list[k8s.EnvVar]:
    """libpq's variables: where the tracking database is, and the role's login from its Secret.

    Explicit in every container that connects (not in a shared ConfigMap), so a Job's spec, and so its
    content-hashed name, changes whenever the database it talks to does.
    """
    pg = env.postgres
    return [
        *plain_env({"PGHOST": pg.host, "PGPORT": str(pg.port), "PGDATABASE": instance.database.name,
                    "PGSSLMODE": pg.ssl_mode}),
        secret_env("PGUSER", names.db_secret, "username"),
        secret_env("PGPASSWORD", names.db_secret, "password"),
    ]


def empty_dir(name: str, size: str = "256Mi") -> k8s.Volume:
    return k8s.Volume(name=name, empty_dir=k8s.EmptyDirVolumeSource(size_limit=k8s.Quantity.from_string(size)))


def scripts_volume(config_map: str) -> k8s.Volume:
    return k8s.Volume(name=SCRIPTS_VOLUME, config_map=k8s.ConfigMapVolumeSource(name=config_map, default_mode=0o444))


def scripts_mount() -> k8s.VolumeMount:
    return k8s.VolumeMount(name=SCRIPTS_VOLUME, mount_path=n.SCRIPTS_DIR, read_only=True)


def script_command(script: str) -> list[str]:
    return ["python", f"{n.SCRIPTS_DIR}/{script}"]


def wait_for_postgres(env: EnvironmentSettings, instance: InstanceSettings, names: n.Names) -> k8s.Container:
    """An init container that exits once PostgreSQL accepts the role's login (not merely a TCP connect)."""
    return k8s.Container(
        name="wait-for-postgres",
        image=env.image.ref,
        image_pull_policy=env.image.pull_policy,
        command=script_command("wait_for_postgres.py"),
        env=postgres_env(env, instance, names),
        volume_mounts=[scripts_mount()],
        resources=resources(SMALL),
        security_context=container_security_context(),
    )


def name_with_content_hash(obj: ApiObject, prefix: str, path: str = "spec") -> str:
    """Rename `obj` to `<prefix>-<hash of its rendered spec>` so that any change gives it a new name."""
    rendered = obj.to_json()
    name = f"{prefix}-{content_hash(rendered[path])}"
    obj.add_json_patch(JsonPatch.replace("/metadata/name", name))
    return name
