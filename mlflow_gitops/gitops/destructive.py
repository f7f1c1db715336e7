"""What a reviewer must not miss: removals that delete data, or leave it behind unserved.

`removal_warning` looks at one removed object (as the GitOps repository holds it) and says what removing it
does, or returns None when it deletes nothing that holds data: a Namespace (Kubernetes deletes everything
in it, also what the render never held), a CloudNativePG Database (dropped under `databaseReclaimPolicy:
delete`, kept under `retain`) or Cluster, a PersistentVolumeClaim, and the setup Job of an instance's bucket
(the instance is gone; its bucket and artifacts stay in object storage, served by nothing).

`cleanup_warning` looks at an added (or renamed) object: a retired instance's cleanup Job, annotated with what
it deletes outside the cluster (the Keycloak client and groups, the MinIO user and policy, the bucket).
"""

from __future__ import annotations

from typing import Any

from mlflow_gitops.names import DESTROYS_ANNOTATION

CNPG = "postgresql.cnpg.io"
INSTANCE_LABEL = "app.kubernetes.io/instance"


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _bucket(doc: Any) -> str | None:
    """The BUCKET a Job's container is given (the MinIO setup Job's), if any."""
    containers = _get(doc, "spec", "template", "spec", "containers")
    for container in containers if isinstance(containers, list) else []:
        for var in container.get("env") or [] if isinstance(container, dict) else []:
            if isinstance(var, dict) and var.get("name") == "BUCKET" and isinstance(var.get("value"), str):
                return str(var["value"])
    return None


def removal_warning(kind: str, group: str, name: str, doc: Any) -> str | None:
    """What removing this object does to data, or None."""
    if kind == "Namespace" and group == "":
        return (
            f"Kubernetes deletes namespace {name} with everything in it, also what the render never held "
            "(Secrets, volumes' claims, pods)"
        )
    if kind == "Database" and group == CNPG:
        database = _get(doc, "spec", "name") or name
        cluster = _get(doc, "spec", "cluster", "name") or "?"
        if _get(doc, "spec", "databaseReclaimPolicy") == "delete":
            return (
                f"CloudNativePG DROPS database {database} in cluster {cluster} (databaseReclaimPolicy: "
                "delete): its data is lost"
            )
        return (
            f"database {database} stays in cluster {cluster} (databaseReclaimPolicy: retain), unused: drop it "
            "by hand once it is no longer needed"
        )
    if kind == "Cluster" and group == CNPG:
        return f"CloudNativePG deletes PostgreSQL cluster {name} and its instances' volumes"
    if kind == "PersistentVolumeClaim" and group == "":
        return f"the volume of claim {name} is deleted or kept as its StorageClass's reclaim policy says"
    if kind == "Job" and group == "batch":
        bucket = _bucket(doc)
        if bucket:
            instance = _get(doc, "metadata", "labels", INSTANCE_LABEL) or name
            return (
                f"instance {instance} no longer sets up bucket {bucket}: the bucket and its artifacts stay in "
                "object storage (nothing here deletes them), served by no MLflow server"
            )
    return None


def cleanup_warning(kind: str, group: str, doc: Any) -> str | None:
    """What an added cleanup Job deletes when it runs, or None for any other object."""
    if kind != "Job" or group != "batch":
        return None
    destroys = _get(doc, "metadata", "annotations", DESTROYS_ANNOTATION)
    if not isinstance(destroys, str) or not destroys:
        return None
    instance = _get(doc, "metadata", "labels", INSTANCE_LABEL) or "?"
    return f"cleanup of retired instance {instance} runs: it {destroys}"
