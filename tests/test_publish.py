"""`mlflow-gitops publish`: one commit per change on a branch of a real (bare) GitOps repository, and the
pull request through a fake of GitHub's pulls API.

The remote's `main` starts with an older render of `default` (image tag 0.9, plus a stale file), a README
and files outside SUBDIR/default/ that must never change. CLI runs are subprocesses with a clean
environment (each renders, ~2 s); the forge and the git mechanics are also tested in-process.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlflow_gitops.app import render
from mlflow_gitops.config import load_environments
from mlflow_gitops.gitops.forge import ForgeError, GitHub, repository_from_url
from mlflow_gitops.gitops.publish import PublishError, publish
from mlflow_gitops.output import header, tree
from tests.conftest import NO_CONFIG
from tests.fakes.github import FakeGitHub
from tests.gitrepo import git

SUBDIR = "clusters/dev"
BRANCH = "mlflow-gitops/update"
TOKEN = "ghs_" + "T0k3nV4lue" * 4
UNRELATED = {
    "README.md": "# the GitOps repository\n",
    "unrelated/keep.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n",
    f"{SUBDIR}/other-env/x.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n",
}
STALE = f"{SUBDIR}/default/app/stale.yaml"

Run = Callable[..., subprocess.CompletedProcess[str]]


def render_tree(
    environ: dict[str, str] | None = None, names: list[str] | None = None, config_dir: Path = NO_CONFIG
) -> dict[str, str]:
    return tree(render(load_environments(names, config_dir, environ or {}, gitops_path=SUBDIR)))


def seed_remote(root: Path, files: dict[str, str]) -> Path:
    """A bare repository whose main holds `files` (one commit)."""
    bare, work = root / "remote.git", root / "seed"
    git("init", "--quiet", "--bare", str(bare), cwd=root)
    git("clone", "--quiet", str(bare), str(work), cwd=root)
    for relative, text in files.items():
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).write_text(text, encoding="utf-8")
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "seed", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return bare


def files_at(bare: Path, ref: str, folder: str) -> dict[str, str]:
    names = git("ls-tree", "-r", "--name-only", ref, "--", folder, cwd=bare).splitlines()
    return {name.removeprefix(folder + "/"): git("show", f"{ref}:{name}", cwd=bare) + "\n" for name in names}


def count(bare: Path, revisions: str) -> int:
    return int(git("rev-list", "--count", revisions, cwd=bare))


def refs(bare: Path) -> str:
    return git("for-each-ref", "--format=%(refname) %(objectname)", cwd=bare)


def documents(files: dict[str, str]) -> list[dict]:
    """The Kubernetes objects in `files` (kustomization.yaml files have no metadata)."""
    return [d for text in files.values() for d in yaml.safe_load_all(text) if isinstance(d, dict) and "metadata" in d]


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    old = render_tree({"MLFLOW_IMAGE_TAG": "0.9"})
    seeded = {f"{SUBDIR}/{k}": v for k, v in old.items()}
    # an object an older render had (every file the tool writes carries its header)
    seeded[STALE] = header("default") + (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stale\n  namespace: mlflow\n"
    )
    return seed_remote(tmp_path, {**UNRELATED, **seeded})


def test_publish_commits_once_skips_unchanged_and_updates_the_pull_request(
    run_cli: Run, remote: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    main_before = git("rev-parse", "main", cwd=remote)
    with FakeGitHub(token=TOKEN) as github:
        env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "org/gitops"}
        args = ("publish", "--repo", str(remote), "--path", SUBDIR, "--workdir", str(workdir))

        # 1. first publish: a new branch from main with one commit, and a new pull request
        first = run_cli(*args, "--open-pr", env=env)
        assert first.returncode == 0, first.stderr
        assert TOKEN not in first.stdout + first.stderr
        assert f"to branch {BRANCH} of {remote} (new branch from main)" in first.stdout
        # the Jobs' names carry their content hash: 4 renamed; the stale ConfigMap removed
        assert "mlflow-gitops: 1 changed, 0 added, 1 removed, 4 renamed (env default)" in first.stdout
        assert "pull request #1 created: https://github.example/org/gitops/pull/1" in first.stdout
        assert count(remote, f"main..{BRANCH}") == 1
        assert git("rev-parse", "main", cwd=remote) == main_before
        rendered = render_tree()
        assert files_at(remote, BRANCH, f"{SUBDIR}/default") == {
            k.removeprefix("default/"): v for k, v in rendered.items()
        }  # the stale file is gone
        touched = git("diff", "--no-renames", "--name-only", "main", BRANCH, cwd=remote).splitlines()
        assert touched and all(p.startswith(f"{SUBDIR}/default/") for p in touched)
        assert STALE in touched
        for path, text in UNRELATED.items():
            assert git("show", f"{BRANCH}:{path}", cwd=remote) + "\n" == text
        log = git("log", "-1", "--format=%an <%ae>|%cn <%ce>|%s%n%b", BRANCH, cwd=remote)
        assert log.startswith(
            "mlflow-gitops <mlflow-gitops@localhost>|mlflow-gitops <mlflow-gitops@localhost>|"
            "mlflow-gitops: 1 changed, 0 added, 1 removed, 4 renamed (env default)"
        )
        assert "Changed:\n  Deployment mlflow/mlflow" in log and "Removed:\n  ConfigMap mlflow/stale" in log

        [listing, create] = github.requests
        assert (listing.method, listing.path) == ("GET", "/repos/org/gitops/pulls")
        assert listing.query == {"state": ["open"], "head": [f"org:{BRANCH}"], "base": ["main"]}
        assert (create.method, create.path, create.status) == ("POST", "/repos/org/gitops/pulls", 201)
        assert set(create.body) == {"title", "head", "base", "body"}
        assert (create.body["head"], create.body["base"]) == (BRANCH, "main")
        assert create.body["title"] == "mlflow-gitops: 1 changed, 0 added, 1 removed, 4 renamed (env default)"
        assert "| Kind | Added | Removed | Changed |" in create.body["body"]
        assert (
            "```diff" in create.body["body"]
            and "+        image: localhost:30500/mlflow:3.6.0-oidc" in create.body["body"]
        )
        for request in github.requests:
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            assert request.headers["accept"] == "application/vnd.github+json"
            assert request.headers["x-github-api-version"] == "2022-11-28"
            assert request.headers["user-agent"].startswith("mlflow-gitops")

        # 2. unchanged: no commit, no push, even with leftovers in the cached checkout
        [checkout] = [p for p in (workdir / "checkouts").iterdir() if p.is_dir()]
        (checkout / SUBDIR / "default" / "leftover.yaml").write_text("kind: Leftover\n")
        (checkout / "README.md").write_text("edited in the cache\n")
        branch_before = git("rev-parse", BRANCH, cwd=remote)
        second = run_cli(*args, env=env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.startswith(f"no changes: branch {BRANCH} of {remote} already holds the render")
        assert git("rev-parse", BRANCH, cwd=remote) == branch_before

        # 3. a config change: exactly one commit on top, touching only the files that changed; the PR is updated
        third = run_cli(
            *args,
            "--open-pr",
            env={
                **env,
                "MLFLOW_IMAGE_TAG": "x",
                "GIT_AUTHOR_NAME": "Release Bot",
                "GIT_AUTHOR_EMAIL": "bot@example.com",
            },
        )
        assert third.returncode == 0, third.stderr
        assert "(on top of the branch)" in third.stdout and "pull request #1 updated" in third.stdout
        assert count(remote, f"{branch_before}..{BRANCH}") == 1
        assert git("rev-parse", f"{BRANCH}~1", cwd=remote) == branch_before
        changed = render_tree({"MLFLOW_IMAGE_TAG": "x"})
        expected = {f"{SUBDIR}/{k}" for k in rendered.keys() | changed.keys() if rendered.get(k) != changed.get(k)}
        last = git("diff", "--no-renames", "--name-only", f"{BRANCH}~1", BRANCH, cwd=remote)
        assert set(last.splitlines()) == expected
        assert (
            git("log", "-1", "--format=%an <%ae>|%cn <%ce>", BRANCH, cwd=remote)
            == "Release Bot <bot@example.com>|Release Bot <bot@example.com>"
        )
        assert (
            git("log", "-1", "--format=%s", BRANCH, cwd=remote)
            == "mlflow-gitops: 1 changed, 0 added, 0 removed, 4 renamed (env default)"
        )
        assert TOKEN not in third.stdout + third.stderr

        assert [r.method for r in github.requests] == ["GET", "POST", "GET", "PATCH"]
        patch = github.requests[-1]
        assert (patch.path, patch.status, set(patch.body)) == ("/repos/org/gitops/pulls/1", 200, {"title", "body"})
        assert "+        image: localhost:30500/mlflow:x" in patch.body["body"]
        [pull] = github.open_pulls()
        assert pull["body"] == patch.body["body"] and pull["head"]["ref"] == BRANCH


def test_removed_instance_disappears_and_databases_are_retained(run_cli: Run, tmp_path: Path) -> None:
    remote = seed_remote(tmp_path, UNRELATED)
    config = tmp_path / "environments"
    config.mkdir()
    (config / "dev.yaml").write_text("instances:\n  - name: alpha\n  - name: beta\n")
    args = (
        "publish",
        "--repo",
        str(remote),
        "--path",
        SUBDIR,
        "--workdir",
        str(tmp_path / "work"),
        "--config-dir",
        str(config),
        "--env",
        "dev",
    )
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    before = files_at(remote, BRANCH, f"{SUBDIR}/dev")
    assert {d["metadata"]["name"] for d in documents(before) if d["kind"] == "Deployment"} == {"alpha", "beta"}

    (config / "dev.yaml").write_text("instances:\n  - name: alpha\n")
    second = run_cli(*args, "--message", "Remove instance beta")
    assert second.returncode == 0, second.stderr
    assert count(remote, f"main..{BRANCH}") == 2
    assert git("log", "-1", "--format=%s", BRANCH, cwd=remote) == "Remove instance beta"
    body = git("log", "-1", "--format=%b", BRANCH, cwd=remote)
    assert "\n  Deployment beta/beta\n" in body.split("Removed:\n", 1)[1].split("Files:", 1)[0]
    after = files_at(remote, BRANCH, f"{SUBDIR}/dev")
    docs = documents(after)
    assert not [d for d in docs if "beta" in (d["metadata"].get("namespace"), d["metadata"]["name"])]
    assert not [d for d in docs if d["kind"] == "Database" and d["metadata"]["name"].startswith("beta")]
    databases = [d for d in docs if d["kind"] == "Database"]
    assert {d["metadata"]["name"] for d in databases} == {"alpha", "alpha-auth"}
    assert all(d["spec"]["databaseReclaimPolicy"] == "retain" for d in databases)
    status = git("diff", "--no-renames", "--name-status", f"{BRANCH}~1", BRANCH, cwd=remote).splitlines()
    deleted = {line.split("\t")[1] for line in status if line.startswith("D")}
    assert deleted == {f"{SUBDIR}/dev/{k}" for k in before.keys() - after.keys()}
    assert all(line[0] in "DM" for line in status)  # only deletions and the kustomization lists
    assert all(git("show", f"{BRANCH}:{p}", cwd=remote) + "\n" == t for p, t in UNRELATED.items())


def test_open_pr_needs_a_token_and_a_repository(run_cli: Run, tmp_path: Path) -> None:
    remote = seed_remote(tmp_path, UNRELATED)
    before = refs(remote)
    base = ("publish", "--repo", str(remote), "--path", SUBDIR, "--workdir", str(tmp_path / "work"), "--open-pr")
    no_token = run_cli(*base, env={"GITHUB_TOKEN": "", "GITHUB_REPOSITORY": "org/gitops"})
    assert no_token.returncode == 2
    assert no_token.stderr.startswith("error: --open-pr needs a GitHub token in the environment variable GITHUB_TOKEN")
    no_repository = run_cli(*base, env={"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": ""})
    assert no_repository.returncode == 2 and "GITHUB_REPOSITORY" in no_repository.stderr
    assert TOKEN not in no_repository.stdout + no_repository.stderr
    assert refs(remote) == before and not (tmp_path / "work").exists()


def test_bad_input_leaves_the_repository_untouched(run_cli: Run, tmp_path: Path) -> None:
    remote = seed_remote(tmp_path, UNRELATED)
    before = refs(remote)
    base = ("publish", "--repo", str(remote), "--workdir", str(tmp_path / "work"))
    cases = [
        ((*base, "--path", "../outside"), {}, "error: --path '../outside': must stay inside the repository"),
        ((*base, "--path", SUBDIR, "--branch", "bad..name"), {}, "error: --branch 'bad..name': not a valid branch"),
        ((*base, "--path", SUBDIR), {"MONITORING_ENABLED": "maybe"}, "error: environment variable MONITORING_ENABLED"),
        (
            ("publish", "--repo", str(tmp_path / "nowhere"), "--path", SUBDIR, "--workdir", str(tmp_path / "work")),
            {},
            f"error: --repo {tmp_path / 'nowhere'}: no such folder, and not a git URL",
        ),
        (
            (*base, "--path", SUBDIR, "--open-pr", "--branch", "main"),
            {"GITHUB_TOKEN": TOKEN},
            "error: --open-pr: --branch and --base are both 'main'",
        ),
    ]
    for args, env, message in cases:
        done = run_cli(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith(message), done.stderr
    assert refs(remote) == before and not (tmp_path / "work").exists()


# --------------------------------------------------------------------------------------------------------
# In-process: publish() on hand-made files, and the forge against the fake


def obj(name: str, env: str = "e") -> str:
    return header(env) + f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: ns\n"


def test_publish_to_an_empty_repository_and_a_missing_base(tmp_path: Path) -> None:
    bare = tmp_path / "empty.git"
    git("init", "--quiet", "--bare", str(bare), cwd=tmp_path)
    result = publish({"e/a.yaml": obj("a")}, str(bare), ".", "main", "main", None, tmp_path / "work", environ={})
    assert result.commit and result.created_branch
    assert git("ls-tree", "-r", "--name-only", "main", cwd=bare) == "e/a.yaml"
    assert git("log", "-1", "--format=%s", "main", cwd=bare) == "mlflow-gitops: 0 changed, 1 added, 0 removed (env e)"
    again = publish({"e/a.yaml": obj("a")}, str(bare), ".", "main", "main", None, tmp_path / "work", environ={})
    assert again.commit is None and again.changes.has_changes is False
    with pytest.raises(PublishError, match="--base 'develop': no such branch") as missing:
        publish({"e/a.yaml": obj("b")}, str(bare), ".", "feature", "develop", None, tmp_path / "work", environ={})
    assert missing.value.exit_code == 2
    with pytest.raises(PublishError, match="not a git repository"):
        publish({"e/a.yaml": obj("a")}, str(tmp_path), ".", "main", "main", None, tmp_path / "work", environ={})


def test_publish_refuses_symbolic_links_out_of_the_checkout(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    bare = seed_remote(tmp_path, {"README.md": "x\n"})
    git("clone", "--quiet", str(bare), str(seed / "w"), cwd=tmp_path)
    (seed / "w" / "gitops").symlink_to("/tmp")
    git("add", "gitops", cwd=seed / "w")
    git("commit", "--quiet", "-m", "link", cwd=seed / "w")
    git("push", "--quiet", "origin", "HEAD:main", cwd=seed / "w")
    with pytest.raises(PublishError, match="symbolic link") as refused:
        publish({"e/a.yaml": obj("a")}, str(bare), "gitops", BRANCH, "main", None, tmp_path / "work", environ={})
    assert refused.value.exit_code == 2
    assert git("for-each-ref", "--format=%(refname)", "refs/heads", cwd=bare) == "refs/heads/main"


def test_forge_requests_and_errors() -> None:
    assert repository_from_url("https://github.com/org/gitops.git") == "org/gitops"
    assert repository_from_url("git@github.com:org/gitops.git") == "org/gitops"
    assert repository_from_url("/srv/git/gitops.git") is None
    with FakeGitHub(token=TOKEN) as fake:
        client = GitHub(TOKEN, "org/gitops", fake.url)
        created = client.open_or_update(BRANCH, "main", "t1", "b1")
        assert (created.number, created.action) == (1, "created")
        updated = client.open_or_update(BRANCH, "main", "t2", "b2")
        assert (updated.number, updated.action) == (1, "updated")
        assert [(p["title"], p["body"]) for p in fake.open_pulls()] == [("t2", "b2")]
        other_base = client.open_or_update(BRANCH, "release", "t3", "b3")
        assert other_base.number == 2  # the list filter is by head and base

        with pytest.raises(ForgeError, match="already exists") as duplicate:  # the API's own 422
            client._request("POST", "/repos/org/gitops/pulls", {"title": "x", "head": BRANCH, "base": "main"})
        assert "422" in str(duplicate.value)
        with pytest.raises(ForgeError, match="401") as unauthorized:
            GitHub("wrong-" + TOKEN, "org/gitops", fake.url).open_or_update(BRANCH, "main", "t", "b")
        assert TOKEN not in str(unauthorized.value) and "GITHUB_TOKEN" in str(unauthorized.value)
        with pytest.raises(ForgeError, match="404"):
            GitHub(TOKEN, "org/unknown", fake.url).find(BRANCH, "main")
        with pytest.raises(ForgeError, match="No commits between"):
            client.open_or_update("main", "main", "t", "b")

        import urllib.error
        import urllib.request

        bare = urllib.request.Request(
            f"{fake.url}/repos/org/gitops/pulls",
            headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": "x", "Accept": "application/vnd.github+json"},
        )
        with pytest.raises(urllib.error.HTTPError) as no_version:
            urllib.request.urlopen(bare, timeout=10)
        assert no_version.value.code == 400
        bare.headers["X-github-api-version"] = "2022-11-28"
        bare.headers["Accept"] = "text/html"
        with pytest.raises(urllib.error.HTTPError) as wrong_accept:
            urllib.request.urlopen(bare, timeout=10)
        assert wrong_accept.value.code == 415
    with pytest.raises(ForgeError, match="GITHUB_TOKEN") as missing:
        GitHub.from_environment({}, "https://github.com/org/gitops.git")
    assert missing.value.exit_code == 2
    assert GitHub.from_environment({"GITHUB_TOKEN": "t"}, "git@github.com:o/r.git").repository == "o/r"
    # in GitHub Actions GITHUB_REPOSITORY names the config repository: a URL naming the GitOps one wins
    actions = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "org/config"}
    assert GitHub.from_environment(actions, "https://github.com/org/gitops.git").repository == "org/gitops"
    assert GitHub.from_environment(actions, "/srv/git/gitops.git").repository == "org/config"


def test_publish_refuses_to_replace_a_folder_it_did_not_write(tmp_path: Path) -> None:
    bare = seed_remote(
        tmp_path, {"gitops/e/hand-written.yaml": "apiVersion: v1\nkind: ConfigMap\n", "README.md": "x\n"}
    )
    before = refs(bare)
    with pytest.raises(
        PublishError,
        match=r"gitops/e/ on main of .* holds what mlflow-gitops did not write for "
        r"environment 'e': gitops/e/hand-written.yaml",
    ) as refused:
        publish({"e/a.yaml": obj("a")}, str(bare), "gitops", BRANCH, "main", None, tmp_path / "work", environ={})
    assert refused.value.exit_code == 2
    assert refs(bare) == before, "nothing was pushed"


def test_publish_never_resets_or_removes_a_checkout_it_did_not_make(tmp_path: Path) -> None:
    bare = seed_remote(tmp_path, {"README.md": "x\n"})
    first = publish({"e/a.yaml": obj("a")}, str(bare), ".", BRANCH, "main", None, tmp_path / "work", environ={})
    checkout = first.checkout
    assert (checkout / ".git" / "mlflow-gitops-checkout").is_file()
    (checkout / ".git" / "mlflow-gitops-checkout").unlink()  # as if a person had cloned there
    (checkout / "work-in-progress.txt").write_text("uncommitted\n")
    with pytest.raises(PublishError, match="was not made by mlflow-gitops") as refused:
        publish({"e/a.yaml": obj("b")}, str(bare), ".", BRANCH, "main", None, tmp_path / "work", environ={})
    assert refused.value.exit_code == 2
    assert (checkout / "work-in-progress.txt").read_text() == "uncommitted\n"


def test_after_a_squash_merge_the_next_update_starts_from_the_base(remote: Path, tmp_path: Path) -> None:
    """The pull request of the next update shows exactly that update's change: the branch is rebuilt on the
    base (whose squash commit holds the first update), not on top of the merged branch."""
    first = render_tree({"MLFLOW_IMAGE_TAG": "1.0"})
    publish(first, str(remote), SUBDIR, BRANCH, "main", None, tmp_path / "work", environ={})
    work = tmp_path / "maintainer"
    git("clone", "--quiet", str(remote), str(work), cwd=tmp_path)
    git("merge", "--quiet", "--squash", f"origin/{BRANCH}", cwd=work)
    git("commit", "--quiet", "-m", "Squash-merge the update", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)

    second = render_tree({"MLFLOW_IMAGE_TAG": "1.0", "MLFLOW_HOST": "ml.example.org"})
    result = publish(second, str(remote), SUBDIR, BRANCH, "main", None, tmp_path / "work", environ={})
    expected = sorted(f"{SUBDIR}/{p}" for p in second if first.get(p) != second[p])
    assert expected
    assert git("diff", "--name-only", f"main...{BRANCH}", cwd=remote).splitlines() == expected
    assert git("rev-parse", f"{BRANCH}^", cwd=remote) == git("rev-parse", "main", cwd=remote)
    assert result.rebuilt and not result.created_branch
    assert len(result.changes.changed) + len(result.changes.added) + len(result.changes.removed) > 0
    again = publish(second, str(remote), SUBDIR, BRANCH, "main", None, tmp_path / "work", environ={})
    assert again.commit is None, "the same render on the same base pushes nothing"


def test_rebuilding_refuses_to_drop_a_commit_someone_else_made(remote: Path, tmp_path: Path) -> None:
    publish(
        render_tree({"MLFLOW_IMAGE_TAG": "1.0"}),
        str(remote),
        SUBDIR,
        BRANCH,
        "main",
        None,
        tmp_path / "work",
        environ={},
    )
    work = tmp_path / "colleague"
    git("clone", "--quiet", "--branch", BRANCH, str(remote), str(work), cwd=tmp_path)
    (work / "NOTES.md").write_text("a fix by hand\n")
    git("add", "NOTES.md", cwd=work)
    git("commit", "--quiet", "-m", "Hand-made fix", cwd=work)
    git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=work)
    git("checkout", "--quiet", "main", cwd=work)
    (work / "README.md").write_text("main moved on\n")
    git("commit", "--quiet", "-am", "Main moves on", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    before = refs(remote)
    with pytest.raises(PublishError, match=r"did not make: [0-9a-f]{12} Hand-made fix") as e:
        publish(
            render_tree({"MLFLOW_IMAGE_TAG": "1.1"}),
            str(remote),
            SUBDIR,
            BRANCH,
            "main",
            None,
            tmp_path / "work",
            environ={},
        )
    assert e.value.exit_code == 2 and refs(remote) == before


def test_each_commit_records_the_tool_version_and_the_config_commit(run_cli: Run, tmp_path: Path) -> None:
    from mlflow_gitops import __version__

    remote = seed_remote(tmp_path, UNRELATED)
    config_repo = tmp_path / "config-repo"
    config = config_repo / "environments"
    config.mkdir(parents=True)
    git("init", "--quiet", str(config_repo), cwd=tmp_path)
    (config / "dev.yaml").write_text("instances:\n  - name: alpha\n")
    git("add", "-A", cwd=config_repo)
    git("commit", "--quiet", "-m", "config", cwd=config_repo)
    sha = git("rev-parse", "HEAD", cwd=config_repo)
    args = (
        "publish",
        "--repo",
        str(remote),
        "--path",
        SUBDIR,
        "--workdir",
        str(tmp_path / "work"),
        "--config-dir",
        str(config),
    )
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    trailers = git("log", "-1", "--format=%(trailers:only,unfold)", BRANCH, cwd=remote).splitlines()
    assert trailers == [f"Mlflow-gitops-version: {__version__}", f"Config-commit: {sha}"]
    (config / "dev.yaml").write_text("instances:\n  - name: alpha\n  - name: beta\n")  # not committed
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert f"Config-commit: {sha}+dirty" in git("log", "-1", "--format=%B", BRANCH, cwd=remote)


def test_a_commit_that_changes_only_files_without_objects_says_so() -> None:
    from mlflow_gitops.gitops.diff import DiffResult, FileChange
    from mlflow_gitops.gitops.publish import commit_message

    result = DiffResult(("dev",), (), (FileChange("dev/app/notes.txt", "removed"),), {"dev": "apps/mlflow/dev"})
    subject = commit_message(result).split("\n", 1)[0]
    assert subject == "mlflow-gitops: no object changed; files 1 removed (env dev)"


# --------------------------------------------------------------------------------------------------------
# A first publish, one path rule for publish and diff, a removed environment, a refused push


def environments_dir(root: Path, files: dict[str, str]) -> Path:
    config = root / "environments"
    config.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (config / name).write_text(text)
    return config


def test_a_first_publish_into_an_empty_repository_starts_the_base_and_opens_the_pull_request(
    run_cli: Run, tmp_path: Path
) -> None:
    bare = tmp_path / "empty.git"
    git("init", "--quiet", "--bare", str(bare), cwd=tmp_path)
    config = environments_dir(tmp_path, {"dev.yaml": f"gitops:\n  path: {SUBDIR}\ninstances:\n  - name: alpha\n"})
    diff = run_cli("diff", "--config-dir", str(config), "--against", f"{bare}@main")
    assert diff.returncode == 1, diff.stderr  # changes, not an unreadable repository
    assert "(an empty repository)" in diff.stdout and " 0 removed" in diff.stdout
    with FakeGitHub(token=TOKEN) as github:
        env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "org/gitops"}
        done = run_cli(
            "publish",
            "--repo",
            str(bare),
            "--config-dir",
            str(config),
            "--workdir",
            str(tmp_path / "work"),
            "--open-pr",
            env=env,
        )
        assert done.returncode == 0, done.stderr
        assert "new branch from main" not in done.stdout
        assert "the repository was empty: main starts with an empty commit" in done.stdout
        assert "pull request #1 created" in done.stdout
        [pull] = github.open_pulls()
    assert git("ls-tree", "-r", "--name-only", "main", cwd=bare) == ""
    assert count(bare, "main") == 1 and count(bare, f"main..{BRANCH}") == 1
    assert "0 removed" in pull["title"] and f"{SUBDIR}/dev/" in pull["body"]


def test_publish_and_diff_follow_each_environments_gitops_path(run_cli: Run, tmp_path: Path) -> None:
    remote = seed_remote(tmp_path, UNRELATED)
    config = environments_dir(
        tmp_path,
        {
            "dev.yaml": "gitops:\n  path: apps/dev-cluster\ninstances:\n  - name: alpha\n",
            "prod.yaml": "gitops:\n  path: apps/prod-cluster\ninstances:\n  - name: alpha\n",
        },
    )
    workdir = str(tmp_path / "work")
    done = run_cli(
        "publish", "--repo", str(remote), "--config-dir", str(config), "--workdir", workdir, "--branch", "main"
    )
    assert done.returncode == 0, done.stderr
    tops = {
        p.split("/")[1] + "/" + p.split("/")[2]
        for p in git("ls-tree", "-r", "--name-only", "main", "--", "apps", cwd=remote).splitlines()
    }
    assert tops == {"dev-cluster/dev", "prod-cluster/prod"}
    same = run_cli("diff", "--config-dir", str(config), "--against", str(remote))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "apps/dev-cluster/dev/, apps/prod-cluster/prod/" in same.stdout
    # --path is one folder for every environment, for both commands alike
    elsewhere = run_cli("diff", "--config-dir", str(config), "--against", str(remote), "--path", "apps/dev-cluster")
    assert elsewhere.returncode == 1 and "apps/dev-cluster/prod/" in elsewhere.stdout


def test_an_environment_removed_from_the_config_is_named_and_removed_only_when_asked(
    run_cli: Run, tmp_path: Path
) -> None:
    remote = seed_remote(tmp_path, UNRELATED)
    config = environments_dir(
        tmp_path, {"dev.yaml": "instances:\n  - name: alpha\n", "staging.yaml": "instances:\n  - name: alpha\n"}
    )
    args = (
        "publish",
        "--repo",
        str(remote),
        "--config-dir",
        str(config),
        "--path",
        SUBDIR,
        "--workdir",
        str(tmp_path / "work"),
        "--branch",
        "main",
    )
    assert run_cli(*args).returncode == 0
    (config / "staging.yaml").unlink()
    kept = run_cli(*args)
    assert kept.returncode == 0, kept.stderr
    assert (
        f"warning: {SUBDIR}/staging/ holds the render of environment 'staging', which the config no longer "
        "has; it stays (and stays applied) until you run publish --remove-env staging"
    ) in kept.stdout
    assert git("ls-tree", "--name-only", f"main:{SUBDIR}", cwd=remote).splitlines() == ["dev", "other-env", "staging"]
    removed = run_cli(*args, "--remove-env", "staging")
    assert removed.returncode == 0, removed.stderr
    assert "environment staging removed" in removed.stdout
    assert git("ls-tree", "--name-only", f"main:{SUBDIR}", cwd=remote).splitlines() == ["dev", "other-env"]
    subject = git("log", "-1", "--format=%s", "main", cwd=remote)
    assert subject.startswith("mlflow-gitops: 0 changed, 0 added, ") and "removed (envs dev, staging)" in subject
    # only what the tool wrote: other-env/ holds a hand-made file, dev is still configured
    assert run_cli(*args, "--remove-env", "other-env").returncode == 2
    refused = run_cli(*args, "--remove-env", "dev")
    assert refused.returncode == 2 and "'dev' is still in the config" in refused.stderr


def test_a_push_the_remote_refuses_for_another_reason_is_not_called_a_race(remote: Path, tmp_path: Path) -> None:
    git("config", "receive.maxInputSize", "64", cwd=remote)  # any pack is refused, as by a server's size rule
    with pytest.raises(PublishError) as refused:
        publish(render_tree(), str(remote), SUBDIR, BRANCH, "main", None, tmp_path / "work", environ={})
    message = str(refused.value)
    assert "run again" not in message and "moved" not in message
    assert "the remote refused it" in message and "will not help" in message
