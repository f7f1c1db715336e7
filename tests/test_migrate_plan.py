"""`migrate` without a cluster: the Vault steps the move needs, in order, and exit 0 (nothing inspected)."""

from __future__ import annotations

from tests.conftest import EXAMPLES


def test_the_plan_names_the_vault_changes(run_cli) -> None:
    done = run_cli("migrate")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "(no kubeconfig: the cluster was not inspected)" in out
    order = [
        out.index(text)
        for text in (
            "Vault mlflow/s3: a dedicated MinIO user",
            "Vault mlflow/session",
            "Vault postgres/admin",
            "publish the render",
            "check: mlflow-gitops diff",
        )
    ]
    assert order == sorted(order)


def test_every_instance_of_an_environment_gets_its_plan(run_cli) -> None:
    done = run_cli("migrate", "--config-dir", str(EXAMPLES), "--env", "prod")
    assert done.returncode == 0, done.stderr
    for instance in ("research", "forecasting", "vision"):
        assert f"## instance {instance} (namespace {instance})" in done.stdout
    assert "Vault postgres/admin" not in done.stdout, "CloudNativePG 1.30: the DatabaseRole, no admin login"


def test_an_unreadable_kubeconfig_is_a_clear_error(run_cli, tmp_path) -> None:
    done = run_cli("migrate", "--against-cluster", str(tmp_path / "missing"))
    assert done.returncode == 2 and done.stderr.startswith("error: --against-cluster"), done.stderr
