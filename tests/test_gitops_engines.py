"""Environments, instances and the GitOps engines: Flux and Argo CD objects, ordering, pruning, retention.

Every example environment (dev and staging on Flux, prod on Argo CD) also passes the strict schema and
Pod Security checks.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlflow_gitops.app import render
from mlflow_gitops.config import ConfigError, load_environments
from mlflow_gitops.output import environment_files
from tests.conftest import EXAMPLES, find, one
from tests.pod_security import pod_specs, restricted_violations
from tests.validation import SchemaValidator

FLUX_FORCE = {"kustomize.toolkit.fluxcd.io/force": "enabled"}


@pytest.fixture(scope="module")
def examples() -> dict[str, Any]:
    """name -> Rendered, for every example environment, rendered in one App."""
    return {r.environment.name: r for r in render(load_environments(None, EXAMPLES, {}))}


def folders(rendered: Any) -> set[str]:
    return {path.rsplit("/", 1)[0] for path in environment_files(rendered) if "/" in path}


def test_examples_cover_dev_staging_and_prod(examples):
    assert sorted(examples) == ["dev", "prod", "staging"]
    assert {name: r.environment.gitops.engine for name, r in examples.items()} == {
        "dev": "flux",
        "staging": "flux",
        "prod": "argocd",
    }
    assert [len(r.environment.instances) for r in examples.values()] == [1, 4, 2]
    assert [i.name for i in examples["prod"].environment.instances if i.retired] == ["churn"]


def test_flux_chains_platform_bootstrap_app(default_docs):
    kustomizations = {
        k["metadata"]["name"]: k["spec"]
        for k in find(default_docs, "Kustomization")
        if k["metadata"]["name"] != "mlflow-default"
    }  # the entry point, below
    assert list(kustomizations) == ["mlflow-default-platform", "mlflow-default-bootstrap", "mlflow-default-app"]
    platform, bootstrap, app = kustomizations.values()
    assert "dependsOn" not in platform
    assert bootstrap["dependsOn"] == [{"name": "mlflow-default-platform"}]
    assert app["dependsOn"] == [{"name": "mlflow-default-bootstrap"}]
    for spec in kustomizations.values():
        assert spec["wait"] is True and spec["prune"] is True
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
    assert [s["path"] for s in kustomizations.values()] == [
        "./default/platform",
        "./default/bootstrap",
        "./default/app",
    ]
    assert not find(default_docs, "GitRepository"), "without a repository URL Flux reads flux-system"


def test_flux_paths_point_at_the_rendered_folders(examples):
    dev = examples["dev"]
    docs = dev.documents
    [source] = find(list(docs), "GitRepository")
    assert source["spec"]["url"] == "ssh://git@github.com/acme/gitops.git"
    assert source["spec"]["ref"] == {"branch": "main"}
    assert source["spec"]["secretRef"] == {"name": "gitops-deploy-key"}
    rendered_folders = folders(dev)
    for kustomization in find(list(docs), "Kustomization"):
        assert kustomization["spec"]["sourceRef"]["name"] == source["metadata"]["name"]
        path = kustomization["spec"]["path"]
        assert path.startswith("./apps/mlflow/dev/")
        assert path.removeprefix("./apps/mlflow/dev/") in rendered_folders


def test_flux_jobs_are_force_replaced(default_docs):
    for job in find(default_docs, "Job"):
        assert job["metadata"]["annotations"] == FLUX_FORCE


def test_argocd_one_application_per_environment_over_its_units(examples):
    """One Application builds the environment's root kustomization (platform + bootstrap + app), so sync
    waves inside it order every sync, not only a parent's."""
    prod = examples["prod"]
    docs = list(prod.documents)
    [app] = find(docs, "Application")
    assert app["metadata"]["name"] == "mlflow-prod" and app["metadata"]["namespace"] == "argocd"
    spec = app["spec"]
    assert spec["project"] == "platform"
    assert spec["source"] == {
        "repoURL": "https://github.com/acme/gitops.git",
        "targetRevision": "main",
        "path": "apps/mlflow/prod",
    }
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "PruneLast=true" in spec["syncPolicy"]["syncOptions"]
    root = yaml.safe_load(environment_files(prod)["kustomization.yaml"])
    assert root["resources"] == ["platform", "bootstrap", "app"]
    assert not find(docs, "Kustomization")
    assert "argocd/kustomization.yaml" in environment_files(prod)


def test_argocd_waves_run_changed_jobs_before_the_server_rolls(examples):
    """Jobs are ordinary resources named by their content (not hooks, which Argo CD leaves out of its
    out-of-sync decision): a changed Job is a new resource, so the app is OutOfSync and the sync applies
    wave 1 (the Jobs), waits for them to be healthy (complete), then wave 2 (the server)."""
    prod = examples["prod"]
    waves = {
        unit: {d["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave") for d in docs}
        for unit, docs in prod.units.items()
    }
    assert waves == {"platform": {"0"}, "bootstrap": {"1"}, "app": {"2"}}
    jobs = find(list(prod.documents), "Job")
    assert len(jobs) == 11, "three Jobs per instance, two cleanup Jobs of the retired one"
    for job in jobs:
        annotations = {k: v for k, v in job["metadata"]["annotations"].items() if k != "mlflow-gitops.io/destroys"}
        assert annotations == {"argocd.argoproj.io/sync-wave": "1"}, "no hook, no Flux force"
    assert not any(
        "argocd.argoproj.io/sync-wave" in d["metadata"].get("annotations", {}) for d in examples["dev"].documents
    ), "Flux environments carry no Argo CD annotation"


def test_argocd_needs_a_repository_url(tmp_path):
    (tmp_path / "prod.yaml").write_text("gitops:\n  engine: argocd\n")
    with pytest.raises(ConfigError) as caught:
        load_environments(["prod"], tmp_path, {})
    assert "gitops.repository.url: Argo CD Applications need the GitOps repository's URL" in str(caught.value)


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_every_example_validates_strictly_and_is_restricted(examples, name, validator_for_examples):
    docs = list(examples[name].documents)
    assert validator_for_examples.validate_all(docs) == {}
    pods = [spec for doc in docs for _, spec in pod_specs(doc)]
    env = examples[name].environment
    redis = [i for i in env.instances if i.sessions.store == "redis" and i.sessions.redis.deploy]
    per_instance = 4 + (env.postgres.role_management == "job")  # server, 3 Jobs (+ the db-role Job)
    live = [i for i in env.instances if not i.retired]
    retired = len(env.instances) - len(live)  # two cleanup Jobs each
    assert len(pods) == per_instance * len(live) + 2 * retired + len(redis)
    for spec in pods:
        assert restricted_violations(spec) == []


@pytest.fixture(scope="module")
def validator_for_examples() -> SchemaValidator:
    from mlflow_gitops.crds import default_crd_dir

    return SchemaValidator(default_crd_dir())


def test_each_instance_is_isolated(examples):
    prod = examples["prod"]
    docs = list(prod.documents)
    deployments = [
        d for d in find(docs, "Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
    ]
    assert sorted(d["metadata"]["namespace"] for d in deployments) == ["forecasting", "research", "vision"]
    roles = sorted(r["spec"]["name"] for r in find(docs, "DatabaseRole"))
    assert roles == ["forecasting", "research", "vision"]
    vault_paths = {
        d["remoteRef"]["key"].split("/")[0]
        for es in find(docs, "ExternalSecret")
        for d in es["spec"]["data"]
        if not d["remoteRef"]["key"].startswith("platform/")
    }
    assert vault_paths == {"forecasting", "research", "vision", "keycloak", "churn"}
    buckets = sorted(j["BUCKET"] for j in (_env(job) for job in find(docs, "Job")) if "BUCKET" in j)
    assert buckets == ["churn", "forecasting", "research", "vision"]  # churn: its cleanup Job


def _env(job: dict[str, Any]) -> dict[str, str]:
    [container] = job["spec"]["template"]["spec"]["containers"]
    return {v["name"]: v.get("value", "") for v in container["env"]}


def test_data_is_retained_unless_config_asks_to_delete(examples, default_docs):
    for doc in find(default_docs, "Database") + find(default_docs, "DatabaseRole"):
        reclaim = doc["spec"].get("databaseReclaimPolicy", doc["spec"].get("databaseRoleReclaimPolicy"))
        assert reclaim == "retain"
    dev = list(examples["dev"].documents)
    assert {d["spec"]["databaseReclaimPolicy"] for d in find(dev, "Database")} == {"delete"}
    prod = list(examples["prod"].documents)  # CloudNativePG 1.30: the role is an object too
    assert {d["spec"]["databaseRoleReclaimPolicy"] for d in find(prod, "DatabaseRole")} == {"retain"}


def test_removing_an_instance_removes_its_files_only(tmp_path):
    (tmp_path / "team.yaml").write_text("instances:\n  - {name: alpha}\n  - {name: beta}\n")
    [both] = render(load_environments(["team"], tmp_path, {}))
    (tmp_path / "team.yaml").write_text("instances:\n  - {name: alpha}\n")
    [one_left] = render(load_environments(["team"], tmp_path, {}))
    before, after = environment_files(both), environment_files(one_left)
    gone = set(before) - set(after)

    def of_instance_b(path: str) -> bool:
        namespace, _, name = path.rsplit("/", 1)[1].removesuffix(".yaml").split("_")
        return namespace == "beta" or name == "beta" or name.startswith("beta-")

    assert len(gone) == 34 and all(of_instance_b(p) for p in gone), sorted(gone)
    assert not set(after) - set(before), "nothing new appears"
    unchanged = [p for p in after if not p.endswith("kustomization.yaml")]
    assert all(before[p] == after[p] for p in unchanged), "instance alpha renders the same bytes"


def test_engine_objects_are_per_environment_not_per_instance(examples):
    staging = list(examples["staging"].documents)
    assert len(find(staging, "Kustomization")) == 4, "three units and the entry point"
    assert len(find(staging, "Deployment")) == 2


def test_two_environments_on_one_cluster_have_their_own_git_repository(tmp_path):
    """Each environment's GitRepository follows its own branch: one name per environment, read by its own
    Kustomizations (a shared name would make the last environment applied win)."""
    for env, branch in (("blue", "blue"), ("green", "green")):
        (tmp_path / f"{env}.yaml").write_text(
            f"gitops:\n  repository:\n    url: https://git.example.com/gitops.git\n    branch: {branch}\n"
        )
    rendered = render(load_environments(None, tmp_path, {}))
    sources = {}
    for r in rendered:
        docs = list(r.documents)
        [source] = find(docs, "GitRepository")
        sources[r.environment.name] = (source["metadata"]["namespace"], source["metadata"]["name"])
        assert source["spec"]["ref"] == {"branch": r.environment.name}
        assert {k["spec"]["sourceRef"]["name"] for k in find(docs, "Kustomization")} == {source["metadata"]["name"]}
    assert sources == {"blue": ("flux-system", "mlflow-gitops-blue"), "green": ("flux-system", "mlflow-gitops-green")}


def test_flux_entry_point_applies_the_engine_objects_and_holds_the_source(examples, default_docs):
    """`<env>/entry/` goes into the cluster's bootstrap path (clusters/<cluster>/): a Kustomization over
    `<env>/flux`, and the environment's GitRepository when it has its own repository (not beside the objects
    the entry applies, which would make it depend on itself)."""
    [entry] = [k for k in find(default_docs, "Kustomization") if k["metadata"]["name"] == "mlflow-default"]
    assert entry["metadata"]["namespace"] == "flux-system"
    assert entry["spec"]["path"] == "./default/flux" and entry["spec"]["prune"] is True
    assert entry["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
    dev = examples["dev"]
    files = environment_files(dev)
    entry_files = sorted(p for p in files if p.startswith("entry/"))
    assert entry_files == [
        "entry/flux-system_gitrepository_mlflow-gitops-dev.yaml",
        "entry/flux-system_kustomization_mlflow-dev.yaml",
        "entry/kustomization.yaml",
    ]
    assert not any(p.startswith("flux/") and "GitRepository" in p for p in files)
    [dev_entry] = [yaml.safe_load(files["entry/flux-system_kustomization_mlflow-dev.yaml"])]
    assert dev_entry["spec"]["path"] == f"./{dev.environment.gitops.path}/dev/flux"
    assert dev_entry["spec"]["sourceRef"]["name"] == "mlflow-gitops-dev"
    assert not any(p.startswith("entry/") for p in environment_files(examples["prod"])), "Argo CD: argocd/ is the entry"


def test_argocd_renders_a_least_privilege_app_project_unless_one_is_named(tmp_path, validator_for_examples):
    (tmp_path / "prod.yaml").write_text(
        "cluster:\n  apiVersions: [postgresql.cnpg.io/v1/Cluster, postgresql.cnpg.io/v1/Database, "
        "external-secrets.io/v1, traefik.io/v1alpha1, argoproj.io/v1alpha1]\n"
        "gitops:\n  engine: argocd\n  repository: {url: 'https://git.example.com/acme/gitops.git'}\n"
        "instances:\n  - name: alpha\n  - name: beta\n    namespace: team-beta\n"
    )
    [rendered] = render(load_environments(None, tmp_path, {}))
    project = one(list(rendered.engine), "AppProject", "mlflow-prod")
    app = one(list(rendered.engine), "Application", "mlflow-prod")
    assert app["spec"]["project"] == "mlflow-prod" and project["metadata"]["namespace"] == "argocd"
    assert project["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"  # before the Application
    spec = project["spec"]
    assert spec["sourceRepos"] == ["https://git.example.com/acme/gitops.git"]
    units = [doc for docs in rendered.units.values() for doc in docs]
    namespaces = {d["metadata"]["namespace"] for d in units if "namespace" in d["metadata"]}
    assert {d["namespace"] for d in spec["destinations"]} == namespaces == {"alpha", "team-beta", "postgres"}
    assert {d["server"] for d in spec["destinations"]} == {"https://kubernetes.default.svc"}
    kinds = {(d["apiVersion"].rpartition("/")[0], d["kind"], "namespace" in d["metadata"]) for d in units}
    allowed = {(w["group"], w["kind"], True) for w in spec["namespaceResourceWhitelist"]} | {
        (w["group"], w["kind"], False) for w in spec["clusterResourceWhitelist"]
    }
    assert allowed == kinds and spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    assert validator_for_examples.validate_all(list(rendered.engine)) == {}
    assert "argocd/argocd_appproject_mlflow-prod.yaml" in environment_files(rendered)
    # a project the user manages is used as named, and not rendered
    (tmp_path / "prod.yaml").write_text(
        (tmp_path / "prod.yaml").read_text().replace("  repository:", "  argocd: {project: platform}\n  repository:")
    )
    [named] = render(load_environments(None, tmp_path, {}))
    assert [d["kind"] for d in named.engine] == ["Application"]
    assert one(list(named.engine), "Application", "mlflow-prod")["spec"]["project"] == "platform"
