"""What a reviewer reads: content of added objects, renamed Jobs paired, hunk line numbers of the files,
destructive removals called out, a summary per environment, JSON for machines, kind/name filters."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.gitops.diff import compare
from mlflow_gitops.gitops.reports import format_json, format_markdown, format_text
from mlflow_gitops.output import tree

Run = Callable[..., subprocess.CompletedProcess[str]]
TWO = "instances:\n  - name: alpha\n    reclaimPolicy: delete\n  - name: beta\n"
ONE = "instances:\n  - name: alpha\n    reclaimPolicy: delete\n"


def render_config(root: Path, files: dict[str, str]) -> dict[str, str]:
    config = root / "environments"
    config.mkdir(parents=True, exist_ok=True)
    for path in config.iterdir():
        path.unlink()
    for name, text in files.items():
        (config / name).write_text(text)
    return tree(render(load_environments(None, config, {})))


@pytest.fixture(scope="module")
def two_then_one(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, str]]:
    root = tmp_path_factory.mktemp("review")
    return render_config(root, {"dev.yaml": TWO}), render_config(root, {"dev.yaml": ONE})


def test_added_objects_show_their_content_collapsed_in_markdown(
    two_then_one: tuple[dict[str, str], dict[str, str]],
) -> None:
    _, one = two_then_one
    body = format_markdown(compare({}, one, ["dev"]))
    match = re.search(
        r"<details>\n<summary><code>added: Deployment alpha/alpha</code> \((\d+) lines\)</summary>"
        r"\n\n```diff\n--- /dev/null\n\+\+\+ b/dev/app/alpha_deployment_alpha.yaml\n@@ -0,0 \+2,\d+ @@\n"
        r"\+apiVersion: apps/v1\n\+kind: Deployment\n",
        body,
    )
    assert match, body[:3000]
    assert "</details>" in body[match.end() :]


def test_hunk_line_numbers_are_those_of_the_files(two_then_one: tuple[dict[str, str], dict[str, str]]) -> None:
    before, _ = two_then_one
    after = {path: text.replace("mlflow:3.6.0-oidc", "mlflow:3.6.1-oidc") for path, text in before.items()}
    result = compare(before, after, ["dev"])
    [deployment] = [c for c in result.changed if c.id.kind == "Deployment" and c.id.name == "alpha"]
    hunks = re.findall(r"^@@ -(\d+),\d+ \+(\d+),\d+ @@\n((?:[ +-].*\n)+)", deployment.diff, re.MULTILINE)
    assert hunks
    old_lines = before[deployment.old_path or ""].splitlines()
    new_lines = after[deployment.new_path or ""].splitlines()
    for old_start, new_start, body in hunks:
        old_at, new_at = int(old_start), int(new_start)
        for line in body.splitlines():
            mark, text = line[0], line[1:]
            if mark in " -":
                assert old_lines[old_at - 1] == text, (old_at, text)
                old_at += 1
            if mark in " +":
                assert new_lines[new_at - 1] == text, (new_at, text)
                new_at += 1
    # a repository file laid out by hand: the diff says its numbers count from the object
    path = deployment.old_path or ""
    relaid = dict(before)
    relaid[path] = yaml.safe_dump(yaml.safe_load(before[path]), indent=4)
    hand = next(c for c in compare(relaid, after, ["dev"]).changed if c.id == deployment.id)
    assert hand.diff.startswith(f"--- a/{path}\t(normalized: ")


def test_a_job_whose_hash_changed_is_one_renamed_object_with_its_diff(
    two_then_one: tuple[dict[str, str], dict[str, str]],
) -> None:
    before, _ = two_then_one
    after = {path: text.replace("mlflow:3.6.0-oidc", "mlflow:3.6.1-oidc") for path, text in before.items()}
    moved = {}
    for path, text in after.items():  # rename the migration Jobs as a new spec hash would
        moved[re.sub(r"db-migration-[0-9a-f]{10}", "db-migration-0123456789", path)] = re.sub(
            r"db-migration-[0-9a-f]{10}", "db-migration-0123456789", text
        )
    result = compare(before, moved, ["dev"])
    renamed = {(c.old_id.name if c.old_id else "", c.id.name) for c in result.renamed}
    assert "alpha-db-migration-0123456789" in {new for _, new in renamed} and any(
        old.startswith("alpha-db-migration-") and old != new for old, new in renamed
    )
    assert not [c for c in result.added + result.removed if c.id.kind == "Job"]
    [job] = [c for c in result.renamed if c.id.name == "alpha-db-migration-0123456789"]
    assert "+        image: localhost:30500/mlflow:3.6.1-oidc" in job.diff
    text = format_text(result)
    assert "~ renamed  Job alpha/alpha-db-migration-0123456789 (was alpha-db-migration-" in text


def test_removing_an_instance_is_called_out_as_destructive(two_then_one: tuple[dict[str, str], dict[str, str]]) -> None:
    two, one = two_then_one
    result = compare(two, one, ["dev"])
    warnings = {result.label(c.id): c.warning for c in result.destructive}
    assert "Kubernetes deletes namespace beta" in warnings["Namespace beta"]
    assert "stays in cluster postgres-cluster (databaseReclaimPolicy: retain)" in warnings["Database postgres/beta"]
    [bucket] = [w for label, w in warnings.items() if label.startswith("Job beta/beta-minio-setup-")]
    assert "no longer sets up bucket beta" in bucket and "stay in object storage" in bucket
    text = format_text(result)
    assert text.index("DESTRUCTIVE:") < text.index("- removed ")
    body = format_markdown(result)
    assert body.index("> [!CAUTION]") < body.index("| Kind |")
    # with databaseReclaimPolicy: delete the database is dropped: said as such
    dropped = compare(one, {}, ["dev"])
    [database] = [c for c in dropped.destructive if c.id.kind == "Database" and c.id.name == "alpha"]
    assert "DROPS database alpha" in database.warning


def test_retiring_an_instance_shows_its_cleanup_jobs_as_destructive(tmp_path: Path) -> None:
    """Step one of removing an instance (`retired: true`): the server and the databases' objects go, the
    cleanup Jobs come, and the review says what each deletes outside the cluster; step two removes the entry
    and with it the namespace."""
    retired = TWO + "    retired: true\n    cleanup: {bucket: force}\n"
    before, after = render_config(tmp_path, {"dev.yaml": TWO}), render_config(tmp_path, {"dev.yaml": retired})
    result = compare(before, after, ["dev"])
    warnings = {result.label(c.id): c.warning for c in result.destructive}
    [keycloak] = [w for label, w in warnings.items() if label.startswith("Job beta/beta-oidc-cleanup-")]
    assert keycloak == (
        "cleanup of retired instance beta runs: it deletes Keycloak client beta, groups beta-admins and beta-users "
        "(with their memberships) and its identity-provider mappers in realm buunstack"
    )
    [minio] = [w for label, w in warnings.items() if label.startswith("Job beta/beta-minio-cleanup-")]
    assert "DELETES bucket beta WITH EVERY ARTIFACT" in minio
    assert "stays in cluster postgres-cluster" in warnings["Database postgres/beta"]
    assert "Namespace beta" not in warnings, "the namespace stays until the entry is removed"
    kinds = {(c.id.kind, c.status) for c in result.objects if c.id.namespace == "beta"}
    assert ("Deployment", "removed") in kinds and ("IngressRoute", "removed") in kinds
    assert "> [!CAUTION]" in format_markdown(result)
    gone = compare(after, render_config(tmp_path, {"dev.yaml": ONE}), ["dev"])
    assert (
        "Kubernetes deletes namespace beta"
        in {result.label(c.id): c.warning for c in gone.destructive}["Namespace beta"]
    )


def test_each_environment_gets_a_summary_line(tmp_path: Path) -> None:
    before = render_config(tmp_path, {"dev.yaml": ONE, "prod.yaml": ONE})
    after = render_config(tmp_path, {"dev.yaml": TWO, "prod.yaml": ONE})
    result = compare(before, after, ["dev", "prod"])
    text = format_text(result)
    assert re.search(r"^summary dev: 0 changed, \d+ added, 0 removed", text, re.MULTILINE)
    assert "summary prod: 0 changed, 0 added, 0 removed" in text
    assert "- **prod**: 0 changed, 0 added, 0 removed" in format_markdown(result)


def test_json_report_and_filters_from_the_command_line(run_cli: Run, tmp_path: Path) -> None:
    config = tmp_path / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text(ONE)
    out = tmp_path / "dist"
    assert run_cli("synth", "--config-dir", str(config), "--out", str(out), "--quiet").returncode == 0
    (config / "dev.yaml").write_text(
        TWO.replace("reclaimPolicy: delete", "reclaimPolicy: delete\n    host: alpha.example.org")
    )
    done = run_cli("diff", "--config-dir", str(config), "--against", str(out), "--format", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["formatVersion"] == 1 and report["hasChanges"] is True
    [env] = report["environments"]
    assert env["name"] == "dev" and env["counts"]["added"] > 0 and env["counts"]["changed"] > 0
    statuses = {(o["kind"], o["name"]): o["status"] for o in report["objects"]}
    assert statuses[("Namespace", "beta")] == "added" and statuses[("IngressRoute", "alpha")] == "changed"
    assert all(o["diff"] for o in report["objects"])

    only = run_cli(
        "diff", "--config-dir", str(config), "--against", str(out), "--kind", "ingressroute", "--name", "alp*"
    )
    assert only.returncode == 1, only.stderr
    assert "(only kind ingressroute; name alp*)" in only.stdout
    listed = [line for line in only.stdout.splitlines() if re.match(r"  [-+~>] ", line)]
    assert listed == ["  ~ changed  IngressRoute alpha/alpha"]
    nothing = run_cli("diff", "--config-dir", str(config), "--against", str(out), "--kind", "Secret")
    assert nothing.returncode == 0 and nothing.stdout.startswith("no changes:")
    assert format_json(compare({}, {}, ["dev"])).startswith("{")


def test_ci_renders_once_and_keeps_one_comment_on_the_config_pull_request(run_cli: Run, tmp_path: Path) -> None:
    """The example workflow's diff job: synth once, `diff --rendered` that folder against the GitOps repository,
    and the Markdown report as one comment on the config repository's pull request, updated in place."""
    from mlflow_gitops.gitops.forge import COMMENT_MARKER, GitHub
    from mlflow_gitops.output import header
    from tests.fakes.github import FakeGitHub

    token = "ghs_" + "C0mm3nt" * 6
    config = tmp_path / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text(ONE)
    gitops = tmp_path / "gitops"
    assert run_cli("synth", "--config-dir", str(config), "--out", str(gitops), "--quiet").returncode == 0
    (config / "dev.yaml").write_text(ONE + "    host: alpha.example.org\n")
    dist = tmp_path / "dist"
    assert run_cli("synth", "--config-dir", str(config), "--out", str(dist), "--quiet").returncode == 0
    with FakeGitHub(token=token, repositories=("org/config",)) as github:
        number = GitHub(token, "org/config", github.url).open_or_update("change", "main", "config", "b").number
        for i in range(120):  # other comments first: the tool's own is found past the first page
            github.comments.setdefault("org/config", []).append(
                {"id": 10 + i, "issue": number, "body": f"review {i}", "html_url": ""}
            )
        env = {"GITHUB_TOKEN": token, "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "org/config"}
        args = (
            "diff",
            "--config-dir",
            str(config),
            "--rendered",
            str(dist),
            "--against",
            str(gitops),
            "--format",
            "markdown",
            "--comment-on-pr",
            str(number),
        )
        first = run_cli(*args, env=env)
        assert first.returncode == 1, first.stderr
        assert f"comment created on pull request #{number}" in first.stderr and token not in first.stdout + first.stderr
        [mine] = [c for c in github.comments["org/config"] if c["body"].startswith(COMMENT_MARKER)]
        assert "IngressRoute alpha/alpha" in mine["body"] and mine["body"].endswith(first.stdout)
        again = run_cli(*args, env=env)
        assert f"comment unchanged on pull request #{number}" in again.stderr
        (config / "dev.yaml").write_text(ONE + "    host: alpha2.example.org\n")
        assert run_cli("synth", "--config-dir", str(config), "--out", str(dist), "--quiet").returncode == 0
        third = run_cli(*args, env=env)
        assert f"comment updated on pull request #{number}" in third.stderr
        assert len([c for c in github.comments["org/config"] if c["body"].startswith(COMMENT_MARKER)]) == 1
        assert "alpha2.example.org" in mine["body"]
        missing = run_cli(*args, env={"GITHUB_API_URL": github.url})
        assert missing.returncode == 2 and "--comment-on-pr needs a GitHub token" in missing.stderr
    # a rendered folder holds only the tool's files for that environment
    (dist / "dev" / "notes.yaml").write_text("hand: made\n")
    refused = run_cli("diff", "--config-dir", str(config), "--rendered", str(dist), "--against", str(gitops))
    assert refused.returncode == 2 and "notes.yaml not written by mlflow-gitops" in refused.stderr
    (dist / "dev" / "notes.yaml").write_text(header("dev") + "hand: made\n")
    assert (
        run_cli(
            "diff", "--config-dir", str(config), "--rendered", str(tmp_path / "nowhere"), "--against", str(gitops)
        ).returncode
        == 2
    )
