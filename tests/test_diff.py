"""`mlflow-gitops diff`: the fresh render against a folder or a git repository (bare, at a branch/tag/commit).

The GitOps remote is a real bare repository in tmp_path. Its `main` holds exactly the render; the tag `v1`
holds an older state with a changed Deployment, a missing Service and a planted Secret with a value. CLI
runs are subprocesses (each starts Node, ~2 s); the comparison, masking and Markdown are tested in-process
on hand-made file maps.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.gitops import normalize_subdir
from mlflow_gitops.gitops.diff import compare
from mlflow_gitops.gitops.masking import MASK, mask, mask_text
from mlflow_gitops.gitops.reports import MARKDOWN_LIMIT, format_markdown, format_text
from mlflow_gitops.gitops.source import SourceError, parse_against, prefixed, read_against
from mlflow_gitops.output import tree
from tests.conftest import NO_CONFIG
from tests.gitrepo import git

SUBDIR = "clusters/dev"
PLANTED_VALUE = "c2VjcmV0"  # base64 of "secret"
PLANTED = f"""# planted by hand: must never show up in a report
apiVersion: v1
kind: Secret
metadata:
  name: planted-secret
  namespace: mlflow
type: Opaque
data:
  password: {PLANTED_VALUE}
"""
HEADER = "# generated\n"

Run = Callable[..., subprocess.CompletedProcess[str]]


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def find_file(files: dict[str, str], kind: str) -> str:
    """The key of the file holding the first object of `kind` (file names are not part of the contract)."""
    for key, text in sorted(files.items()):
        if key.endswith(".yaml") and any(
            isinstance(d, dict) and d.get("kind") == kind for d in yaml.safe_load_all(text)
        ):
            return key
    raise AssertionError(f"no {kind} in the render")


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    """The default environment rendered for SUBDIR: `default/<rel>` -> text."""
    return tree(render(load_environments(["default"], NO_CONFIG, {}, gitops_path=SUBDIR)))


@pytest.fixture(scope="module")
def gitops(tmp_path_factory: pytest.TempPathFactory, rendered: dict[str, str]) -> dict[str, Path | str]:
    """A bare remote: tag v1 = an older, different state; main = exactly the render (+ unrelated files)."""
    root = tmp_path_factory.mktemp("gitops")
    bare, work = root / "remote.git", root / "work"
    git("init", "--quiet", "--bare", str(bare), cwd=root)
    git("clone", "--quiet", str(bare), str(work), cwd=root)
    unrelated = {
        "README.md": "# GitOps\n",
        "other/app.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: unrelated\n  namespace: other\ndata:\n  password: hunter2\n",
        f"{SUBDIR}/other-env/x.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n",
    }
    old = dict(rendered)
    deployment = find_file(old, "Deployment")
    docs = list(yaml.safe_load_all(old[deployment]))
    docs[0]["spec"]["replicas"] = 3
    old[deployment] = HEADER + yaml.safe_dump_all(docs, sort_keys=False)
    del old[find_file(old, "Service")]
    old["default/app/planted.yaml"] = PLANTED
    write_files(work, unrelated)
    write_files(work, {f"{SUBDIR}/{k}": v for k, v in old.items()})
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "older state", cwd=work)
    git("tag", "v1", cwd=work)
    v1 = git("rev-parse", "HEAD", cwd=work)
    git("rm", "--quiet", "-r", f"{SUBDIR}/default", cwd=work)
    write_files(work, {f"{SUBDIR}/{k}": v for k, v in rendered.items()})
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "current render", cwd=work)
    git("push", "--quiet", "origin", "main", "--tags", cwd=work)
    folder = root / "folder"
    write_files(folder, unrelated)
    write_files(folder, {f"{SUBDIR}/{k}": v for k, v in rendered.items()})
    return {"bare": bare, "work": work, "folder": folder, "v1": v1, "deployment": deployment}


# --------------------------------------------------------------------------------------------------------
# The command line


def test_against_folder_with_a_config_change(run_cli: Run, gitops: dict) -> None:
    done = run_cli("diff", "--against", str(gitops["folder"]), "--path", SUBDIR, env={"MLFLOW_IMAGE_TAG": "x"})
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert f"render of env default vs {SUBDIR}/default/ in {gitops['folder']}:" in out
    assert "~ changed  Deployment mlflow/mlflow" in out
    assert f"--- a/{SUBDIR}/default/" in out and f"+++ b/{SUBDIR}/default/" in out
    assert "-        image: localhost:30500/mlflow:3.6.0-oidc" in out
    assert "+        image: localhost:30500/mlflow:x" in out
    # Job names carry a hash of their spec: each old Job is paired with the new one, and its diff shown
    assert "~ renamed  Job mlflow/mlflow-db-migration-" in out and " (was mlflow-db-migration-" in out
    assert "+ added    Job" not in out and "- removed  Job" not in out
    assert "\n# Job mlflow/mlflow-db-migration-" in out
    assert "unrelated" not in out and "other-env" not in out


def test_against_bare_repository_at_main_unchanged(run_cli: Run, gitops: dict) -> None:
    done = run_cli("diff", "--against", f"{gitops['bare']}@main", "--path", SUBDIR)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"no changes: the render of env default matches {SUBDIR}/default/ in ")
    assert f"{gitops['bare']}@main (" in done.stdout


def test_against_tag_reports_added_removed_changed_masked(gitops: dict, rendered: dict[str, str]) -> None:
    """What `diff --against BARE@v1 --path SUBDIR` prints, in-process (the CLI runs it for Markdown below)."""
    roots = {"default": f"{SUBDIR}/default"}
    found, source = read_against(f"{gitops['bare']}@v1", roots.values())
    out = format_text(compare(prefixed(found, roots), rendered, ["default"], roots=roots, source=source))
    assert out.startswith(f"render of env default vs {SUBDIR}/default/ in {gitops['bare']}@v1 (")
    assert "+ added    Service mlflow/mlflow" in out
    assert "- removed  Secret mlflow/planted-secret" in out
    assert "~ changed  Deployment mlflow/mlflow" in out
    assert "-  replicas: 3\n+  replicas: 1\n" in out
    assert "summary: 1 changed, 1 added, 1 removed" in out
    assert "masked as ***: 1 in the repository" in out
    assert PLANTED_VALUE not in out
    assert "hunter2" not in out and "other-env" not in out  # other folders are not compared


def test_markdown_report(run_cli: Run, gitops: dict) -> None:
    done = run_cli("diff", "--against", f"{gitops['bare']}@v1", "--path", SUBDIR, "--format", "markdown")
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "| Kind | Added | Removed | Changed |" in out
    assert "| Deployment | 0 | 0 | 1 |" in out
    assert "| Secret | 0 | 1 | 0 |" in out
    assert "| Service | 1 | 0 | 0 |" in out
    assert "#### Added (1)\n\n- `Service mlflow/mlflow`" in out
    assert "#### Removed (1)\n\n- `Secret mlflow/planted-secret`" in out
    assert "#### Changed (1)\n\n- `Deployment mlflow/mlflow`" in out
    assert "```diff\n--- a/" in out and "+  replicas: 1" in out
    assert out.index("| Kind |") < out.index("#### Added") < out.index("```diff")
    assert PLANTED_VALUE not in out
    assert len(out) <= MARKDOWN_LIMIT


def test_bad_ref_and_unreadable_repository_exit_2(run_cli: Run, gitops: dict, tmp_path: Path) -> None:
    bad_ref = run_cli("diff", "--against", f"{gitops['bare']}@no-such-ref", "--path", SUBDIR)
    assert bad_ref.returncode == 2
    assert bad_ref.stderr.startswith("error: ") and "no-such-ref" in bad_ref.stderr
    assert "Traceback" not in bad_ref.stderr and bad_ref.stdout == ""

    missing = run_cli("diff", "--against", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "error: --against" in missing.stderr

    escaping = run_cli("diff", "--against", str(gitops["folder"]), "--path", "../up")
    assert escaping.returncode == 2 and "error: --path" in escaping.stderr

    bad_config = run_cli("diff", "--against", str(gitops["folder"]), env={"MONITORING_ENABLED": "maybe"})
    assert bad_config.returncode == 2 and "MONITORING_ENABLED" in bad_config.stderr


# --------------------------------------------------------------------------------------------------------
# Reading the repository (in-process, real git)


def test_read_against_refs(gitops: dict, rendered: dict[str, str]) -> None:
    folder = f"{SUBDIR}/default"
    expected = {k.removeprefix("default/"): v for k, v in rendered.items()}
    head, described = read_against(str(gitops["bare"]), [folder])  # no ref: the remote's HEAD
    assert head[folder] == expected
    assert described.startswith(str(gitops["bare"]))
    for ref in ("main", "v1", gitops["v1"], gitops["v1"][:8]):
        found, described = read_against(f"{gitops['bare']}@{ref}", [folder, "nothing-here"])
        assert found["nothing-here"] == {}
        assert ("app/planted.yaml" in found[folder]) == (ref != "main"), ref
        assert f"@{ref}" in described
    work_tree, _ = read_against(f"{gitops['work']}@v1", [folder])  # a non-bare repository is cloned too
    assert "app/planted.yaml" in work_tree[folder]
    plain, _ = read_against(str(gitops["folder"]), [folder])
    assert plain[folder] == expected
    with pytest.raises(SourceError, match="no branch, tag or commit 'nope'"):
        read_against(f"{gitops['bare']}@nope", [folder])
    with pytest.raises(SourceError, match="not a git repository"):
        read_against(f"{gitops['folder']}@main", [folder])


def test_parse_against_keeps_at_signs_of_urls(tmp_path: Path) -> None:
    assert parse_against("git@github.com:org/gitops.git").ref is None
    assert parse_against("git@github.com:org/gitops.git@release/1").ref == "release/1"
    assert (
        parse_against("https://user@example.com/org/gitops.git").location == "https://user@example.com/org/gitops.git"
    )
    against = parse_against("https://example.com/org/gitops.git@v2")
    assert (against.location, against.ref, against.git) == ("https://example.com/org/gitops.git", "v2", True)
    assert parse_against(str(tmp_path)).git is False
    assert (
        parse_against("https://x-access-token:s3cr3t@example.com/o/r.git").describe()
        == "https://***@example.com/o/r.git"
    )


def test_subdir_validation() -> None:
    assert normalize_subdir(".") == "."
    assert normalize_subdir("./clusters//dev/") == "clusters/dev"
    for bad in ("/abs", "a/../..", "..", ".git/x", "a b"):
        with pytest.raises(ValueError):
            normalize_subdir(bad)


# --------------------------------------------------------------------------------------------------------
# Comparing file maps (in-process, no git, no Node)


def obj(kind: str, name: str, namespace: str | None = "ns", api: str = "v1", **spec: object) -> str:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return yaml.safe_dump({"apiVersion": api, "kind": kind, "metadata": meta, **spec}, sort_keys=False)


KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- {}\n"


def test_compare_objects_files_and_other_environments() -> None:
    old = {
        "dev/a.yaml": HEADER + obj("ConfigMap", "same", data={"k": "v"}),
        "dev/b.yaml": obj("ConfigMap", "changes", data={"k": "old"}) + "---\n" + obj("Service", "gone"),
        "dev/moved.yaml": obj("Namespace", "ns", namespace=None),
        "dev/kustomization.yaml": KUSTOMIZATION.format("a.yaml"),
        "dev/fmt.yaml": obj("ConfigMap", "fmt"),
        "prod/x.yaml": obj("ConfigMap", "prod-only"),
    }
    new = {
        "dev/a.yaml": HEADER + obj("ConfigMap", "same", data={"k": "v"}),
        "dev/b.yaml": obj("ConfigMap", "changes", data={"k": "new"}),
        "dev/sub/moved.yaml": obj("Namespace", "ns", namespace=None),
        "dev/c.yaml": obj("Deployment", "new", api="apps/v1"),
        "dev/kustomization.yaml": KUSTOMIZATION.format("b.yaml"),
        "dev/fmt.yaml": "# a new comment\n" + obj("ConfigMap", "fmt"),
    }
    result = compare(old, new, ["dev"], roots={"dev": "clusters/dev"}, source="repo@main")
    assert [(c.status, c.id.label()) for c in result.objects] == [
        ("changed", "ConfigMap ns/changes"),
        ("added", "Deployment ns/new"),
        ("moved", "Namespace ns"),
        ("removed", "Service ns/gone"),
    ]
    [changed] = result.changed
    assert "--- a/clusters/dev/b.yaml\n+++ b/clusters/dev/b.yaml\n" in changed.diff
    assert "-  k: old\n+  k: new\n" in changed.diff
    assert [(f.path, f.status) for f in result.files] == [
        ("dev/fmt.yaml", "formatting"),
        ("dev/kustomization.yaml", "changed"),
    ]
    assert "-- a.yaml\n+- b.yaml" in result.files[1].diff
    assert result.summary() == "1 changed, 1 added, 1 removed, 1 moved, 2 other files changed"
    assert "prod-only" not in format_text(result)
    assert compare(old, new, ["dev"]) == compare(dict(reversed(old.items())), new, ["dev"])  # order-independent
    assert not compare(old, old, ["dev"]).has_changes
    assert format_text(compare(old, old, ["dev"])).startswith("no changes")


def test_same_kind_in_two_groups_is_two_objects() -> None:
    flux = obj("Kustomization", "app", namespace="flux-system", api="kustomize.toolkit.fluxcd.io/v1")
    new = {"e/k.yaml": flux, "e/kustomization.yaml": KUSTOMIZATION.format("k.yaml")}
    result = compare({"e/kustomization.yaml": KUSTOMIZATION.format("k.yaml")}, new, ["e"])
    assert [c.id.label() for c in result.added] == ["Kustomization flux-system/app"]
    assert not result.files  # a kustomize Kustomization has no name: it is a file, unchanged here
    other = obj("Kustomization", "app", namespace="flux-system", api="example.com/v1")
    both = compare({"e/o.yaml": other}, new, ["e"])
    assert sorted(both.kind_label(c.id) for c in both.objects) == [
        "Kustomization.example.com",
        "Kustomization.kustomize.toolkit.fluxcd.io",
    ]


def test_secrets_are_masked_on_both_sides() -> None:
    old = {
        "e/s.yaml": PLANTED,
        "e/d.yaml": obj(
            "Deployment",
            "d",
            api="apps/v1",
            spec={"env": [{"name": "DB_PASSWORD", "value": "old-pass"}, {"name": "LOG_LEVEL", "value": "info"}]},
        ),
    }
    new = {
        "e/s.yaml": PLANTED.replace(PLANTED_VALUE, "bmV3c2VjcmV0"),
        "e/d.yaml": obj(
            "Deployment",
            "d",
            api="apps/v1",
            spec={"env": [{"name": "DB_PASSWORD", "value": "new-pass"}, {"name": "LOG_LEVEL", "value": "debug"}]},
        ),
    }
    result = compare(old, new, ["e"])
    report = format_text(result) + format_markdown(result)
    for secret in (PLANTED_VALUE, "bmV3c2VjcmV0", "old-pass", "new-pass"):
        assert secret not in report
    assert "-    value: info\n+    value: debug\n" in report
    secret = next(c for c in result.changed if c.id.kind == "Secret")
    assert secret.masked_only and secret.diff == ""
    assert "Secret mlflow/planted-secret  (only masked values differ)" in format_text(result)
    assert (result.masked_old, result.masked_new) == (2, 2)


def test_mask_rules() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"c2VjcmV0"}}'},
        },
        "data": {"a": "YQ=="},
        "stringData": {"b": "plain"},
        "spec": {
            "password": "hunter2",
            "apiToken": 12345,
            "clientSecret": "x",
            "secretName": "tls",
            "passwordSecret": {"name": "role"},
            "secretKeyRef": {"name": "s", "key": "password"},
            "remoteRef": {"key": "mlflow/postgres", "property": "password"},
            "secretKey": "AWS_SECRET_ACCESS_KEY",
            "key": "Zm9vYmFyYmF6cXV4MTIzNDU2",
            "template": {"password": "{{ .password }}"},
            "automountServiceAccountToken": False,
            "dsn": "postgresql://u:p4ss@db/x",
            "note": "ghp_" + "A1b2" * 9,
            "url": "https://user:{password}@host/",
        },
    }
    masked, count = mask(doc)
    spec = masked["spec"]
    assert masked["data"] == {"a": MASK} and masked["stringData"] == {"b": MASK}
    assert masked["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == MASK
    assert spec["password"] == spec["apiToken"] == spec["clientSecret"] == spec["key"] == spec["note"] == MASK
    assert spec["dsn"] == MASK  # the name says connection string: the whole value
    kept = {
        "secretName": "tls",
        "passwordSecret": {"name": "role"},
        "secretKeyRef": {"name": "s", "key": "password"},
        "remoteRef": {"key": "mlflow/postgres", "property": "password"},
        "secretKey": "AWS_SECRET_ACCESS_KEY",
        "template": {"password": "{{ .password }}"},
        "automountServiceAccountToken": False,
        "url": "https://user:{password}@host/",
    }
    assert {k: spec[k] for k in kept} == kept
    assert count == 9
    assert doc["spec"]["password"] == "hunter2"  # the input is not modified
    text, n = mask_text("PASSWORD=hunter2\nuser: me\nuri: postgres://u:pw@h/db\ntoken: {{ .t }}\n")
    assert (text, n) == ("PASSWORD=***\nuser: me\nuri: postgres://u:***@h/db\ntoken: {{ .t }}\n", 2)


def test_render_has_nothing_to_mask(rendered: dict[str, str]) -> None:
    """No false positives on what mlflow-gitops renders: references and templates stay readable."""
    total = 0
    for text in rendered.values():
        for doc in yaml.safe_load_all(text):
            total += mask(doc)[1]
    assert total == 0


def test_markdown_collapses_long_diffs_and_stays_under_the_limit() -> None:
    big = {
        f"e/cm{i}.yaml": obj("ConfigMap", f"cm{i}", data={f"k{j}": f"old {i} {j}" for j in range(400)})
        for i in range(12)
    }
    bigger = {k: v.replace("old", "new") for k, v in big.items()}
    result = compare(big, bigger, ["e"])
    body = format_markdown(result)
    assert len(body) <= MARKDOWN_LIMIT
    assert "<details>\n<summary><code>ConfigMap ns/cm0</code> (" in body
    assert "body is limited to 60,000 characters" in body
    assert "| ConfigMap | 0 | 0 | 12 |" in body
    short = compare(
        {"e/a.yaml": obj("ConfigMap", "a", data={"k": "```"})},
        {"e/a.yaml": obj("ConfigMap", "a", data={"k": "````"})},
        ["e"],
    )
    small = format_markdown(short)
    assert "<details>" not in small and "`````diff\n" in small  # the fence outgrows the content's backticks
    huge = {f"e/c{i}.yaml": obj("ConfigMap", f"c{i}-" + "x" * 200) for i in range(600)}
    assert len(format_markdown(compare({}, huge, ["e"]))) <= MARKDOWN_LIMIT


def test_fields_that_merely_end_in_key_are_masked_only_for_secret_looking_values() -> None:
    """`topologyKey`, a label key or a sort key name a key; only a value that looks like a secret is masked."""
    spec = {
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}
                ]
            }
        },
        "topologySpreadConstraints": [{"topologyKey": "topology.kubernetes.io/zone", "maxSkew": 1}],
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml"}],
        "sortKey": "created_at",
        "signingKey": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==",
        "encryptionKey": "0123456789abcdef0123456789abcdef",
        "masterKey": "hunter2",
    }
    masked, count = mask({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    out = masked["spec"]
    assert out["affinity"] == spec["affinity"] and out["topologySpreadConstraints"] == spec["topologySpreadConstraints"]
    assert out["tolerations"] == spec["tolerations"] and out["sortKey"] == "created_at"
    assert out["signingKey"] == out["encryptionKey"] == MASK
    assert out["masterKey"] == "hunter2"  # short and low-entropy: a key's value is judged by its look
    assert count == 2
