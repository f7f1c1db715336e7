"""`mlflow-gitops publish --forge gitea --open-pr` against a real Gitea 1.27 (tests/gitea_server.py; never a fake).

The repository's main starts with an older render of `default` (image tag 0.9), pushed over git, so that the pull
request's body (the diff against main) shows the Deployment's image line. The CLI runs as a subprocess with a clean
environment: GITEA_TOKEN for the API, and for git an extra header scoped to the server's URL (GIT_CONFIG_COUNT), so
the token is in no URL. What publish did is read back through Gitea's API (pull requests, branches, commits). Each
test uses its own repository of the organisation `platform`.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlflow_gitops.gitops.forge import ForgeError
from mlflow_gitops.gitops.gitea import Gitea, server_from_url
from tests.gitea_server import GiteaServer, gitea_server  # noqa: F401 (fixture)
from tests.test_publish import render_tree

pytestmark = pytest.mark.services

ORG = "platform"
SUBDIR = "clusters/dev"
BRANCH = "mlflow-gitops/update"
IMAGE = "+        image: localhost:30500/mlflow:"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def gitea(gitea_server: GiteaServer) -> GiteaServer:  # noqa: F811
    return gitea_server


def new_repo(server: GiteaServer) -> str:
    name = f"gitops-{uuid.uuid4().hex[:8]}"
    server.create_repo(ORG, name)
    return name


def seed_main(server: GiteaServer, repo: str, root: Path) -> None:
    """Commit an older render of `default` (image tag 0.9) under SUBDIR/default/ to main, pushed over git."""
    work = root / f"seed-{repo}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        **server.git_env(),
        "GIT_TERMINAL_PROMPT": "0",
    }

    def git(*args: str) -> None:
        subprocess.run(
            [
                "git",
                "-c",
                "user.name=Seed",
                "-c",
                "user.email=seed@example.com",
                "-c",
                "commit.gpgSign=false",
                "-c",
                "core.hooksPath=/dev/null",
                *args,
            ],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )

    git("clone", "--quiet", server.repo_url(ORG, repo), str(work))
    for relative, text in render_tree({"MLFLOW_IMAGE_TAG": "0.9"}).items():
        (work / SUBDIR / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / SUBDIR / relative).write_text(text, encoding="utf-8")
    git("-C", str(work), "add", "-A")
    git("-C", str(work), "commit", "--quiet", "-m", "an older render")
    git("-C", str(work), "push", "--quiet", "origin", "HEAD:main")


def head(server: GiteaServer, repo: str, branch: str) -> str | None:
    found = server.api("GET", f"/repos/{ORG}/{repo}/branches/{branch}", ok=(200, 404))
    return str(found["commit"]["id"]) if found and "commit" in found else None


def commits(server: GiteaServer, repo: str, branch: str) -> int:
    return len(server.api("GET", f"/repos/{ORG}/{repo}/commits", params={"sha": branch, "limit": 50, "stat": "false"}))


def config_dir(tmp_path: Path, tag: str) -> Path:
    """A config folder whose `default` environment differs from the built-in one by its image tag."""
    folder = tmp_path / f"config-{tag}"
    folder.mkdir()
    (folder / "default.yaml").write_text(f"image:\n  tag: {tag}\n")
    return folder


def only_open(server: GiteaServer, repo: str) -> dict[str, Any]:
    [pull] = server.pulls(ORG, repo, "open")
    return pull


def test_publish_opens_updates_and_reopens_the_pull_request(run_cli: Run, gitea: GiteaServer, tmp_path: Path) -> None:
    server, token = gitea, gitea.token
    repo = new_repo(server)
    seed_main(server, repo, tmp_path)
    url = server.repo_url(ORG, repo)
    env = {"GITEA_TOKEN": token, **server.git_env()}  # GITEA_URL: derived from the http --repo URL
    args = (
        "publish",
        "--repo",
        url,
        "--path",
        SUBDIR,
        "--workdir",
        str(tmp_path / "work"),
        "--forge",
        "gitea",
        "--open-pr",
    )
    main_before = head(server, repo, "main")
    outputs = []

    # 1. a new branch from main with one commit, and a new pull request whose body is the diff against main
    first = run_cli(*args, env=env)
    outputs.append(first.stdout + first.stderr)
    assert first.returncode == 0, first.stderr
    assert f"to branch {BRANCH} of {url} (new branch from main)" in first.stdout
    subject = first.stdout.splitlines()[1]
    assert re.fullmatch(r"mlflow-gitops: 1 changed, \d+ added, \d+ removed(, \d+ renamed)? \(env default\)", subject), (
        subject
    )
    assert f"pull request #1 created: {server.url}/{ORG}/{repo}/pulls/1" in first.stdout
    pull = only_open(server, repo)
    assert (pull["number"], pull["head"]["ref"], pull["base"]["ref"], pull["title"]) == (1, BRANCH, "main", subject)
    assert pull["head"]["sha"] == head(server, repo, BRANCH)
    assert "| Kind | Added | Removed | Changed |" in pull["body"] and "```diff" in pull["body"]
    assert f"{IMAGE}3.6.0-oidc" in pull["body"] and "-        image: localhost:30500/mlflow:0.9" in pull["body"]
    assert commits(server, repo, BRANCH) == commits(server, repo, "main") + 1
    assert head(server, repo, "main") == main_before
    branch_before = head(server, repo, BRANCH)

    # 2. unchanged: no commit, no second pull request (the open one is found and left as it says)
    second = run_cli(*args, env=env)
    outputs.append(second.stdout + second.stderr)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"no changes: branch {BRANCH} of {url} already holds the render")
    assert "pull request #1 updated" in second.stdout
    assert head(server, repo, BRANCH) == branch_before
    assert [p["number"] for p in server.pulls(ORG, repo)] == [1]
    same = only_open(server, repo)["body"]  # the diff is the same; the footer names no new commit
    assert same.split("\n---\n")[0] == pull["body"].split("\n---\n")[0] and "; the diff is against" in same

    # 3. a config change: one commit on top; the same pull request now shows the new tag
    third = run_cli(*args, "--config-dir", str(config_dir(tmp_path, "4.0.0-oidc")), env=env)
    outputs.append(third.stdout + third.stderr)
    assert third.returncode == 0, third.stderr
    assert "(on top of the branch)" in third.stdout and "pull request #1 updated" in third.stdout
    assert commits(server, repo, BRANCH) == commits(server, repo, "main") + 2
    updated = only_open(server, repo)
    assert updated["number"] == 1 and updated["body"] != pull["body"]
    assert f"{IMAGE}4.0.0-oidc" in updated["body"] and f"{IMAGE}3.6.0-oidc" not in updated["body"]
    assert [p["number"] for p in server.pulls(ORG, repo)] == [1]

    # 4. closed by a reviewer: the next change opens a new pull request (GITEA_URL given explicitly this time)
    server.api("PATCH", f"/repos/{ORG}/{repo}/pulls/1", json={"state": "closed"})
    fourth = run_cli(
        *args, "--config-dir", str(config_dir(tmp_path, "4.0.1-oidc")), env={**env, "GITEA_URL": f"{server.url}/"}
    )
    outputs.append(fourth.stdout + fourth.stderr)
    assert fourth.returncode == 0, fourth.stderr
    assert f"pull request #2 created: {server.url}/{ORG}/{repo}/pulls/2" in fourth.stdout
    reopened = only_open(server, repo)
    assert (reopened["number"], reopened["head"]["ref"], reopened["base"]["ref"]) == (2, BRANCH, "main")
    assert f"{IMAGE}4.0.1-oidc" in reopened["body"]
    assert sorted((p["number"], p["state"]) for p in server.pulls(ORG, repo)) == [(1, "closed"), (2, "open")]

    for output in outputs:
        assert token not in output
    assert token not in (server.logdir / "gitea.log").read_text(errors="replace")


def test_publish_to_gitea_refuses_bad_or_missing_settings(run_cli: Run, gitea: GiteaServer, tmp_path: Path) -> None:
    server = gitea
    repo = new_repo(server)
    url = server.repo_url(ORG, repo)
    workdir = tmp_path / "work"
    args = ("publish", "--repo", url, "--path", SUBDIR, "--workdir", str(workdir), "--forge", "gitea", "--open-pr")

    # missing settings: exit 2 naming the variable, before anything is cloned or pushed
    for env, variable in (
        ({"GITEA_TOKEN": ""}, "GITEA_TOKEN"),
        ({"GITEA_TOKEN": "x", "GITEA_URL": "ftp://host"}, "GITEA_URL 'ftp://host'"),
    ):
        missing = run_cli(*args, env={**server.git_env(), **env})
        assert missing.returncode == 2, missing.stderr
        assert missing.stderr.startswith("error: ") and variable in missing.stderr, missing.stderr
    scp = run_cli(
        "publish",
        "--repo",
        f"git@127.0.0.1:{ORG}/{repo}.git",
        "--path",
        SUBDIR,
        "--workdir",
        str(workdir),
        "--forge",
        "gitea",
        "--open-pr",
        env={"GITEA_TOKEN": "x"},
    )
    assert scp.returncode == 2 and "set GITEA_URL" in scp.stderr, scp.stderr
    assert not workdir.exists() and head(server, repo, BRANCH) is None

    # a wrong API token: git pushes (its own credentials), the API refuses with 401, the token is not shown
    wrong = "0123456789abcdef" * 2 + "deadbeef"
    refused = run_cli(*args, env={**server.git_env(), "GITEA_TOKEN": wrong})
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert re.search(
        rf"error: Gitea API GET /repos/{ORG}/{repo}/pulls\?\S+: 401: .*Check GITEA_TOKEN", refused.stderr
    ), refused.stderr
    assert wrong not in refused.stdout + refused.stderr
    assert head(server, repo, BRANCH) is not None and server.pulls(ORG, repo) == []

    # a wrong token for git too: the fetch fails (private repository), exit 1, no token in the message
    no_git = run_cli(*args, env={**server.git_env(wrong), "GITEA_TOKEN": wrong})
    assert no_git.returncode == 1 and f"cannot clone or fetch {url}" in no_git.stderr, no_git.stderr
    assert wrong not in no_git.stdout + no_git.stderr and server.token not in no_git.stdout + no_git.stderr


def add_branch(server: GiteaServer, repo: str, branch: str) -> None:
    """A branch from main with one commit of its own (through the contents API)."""
    server.api(
        "POST",
        f"/repos/{ORG}/{repo}/contents/{branch}.txt",
        json={
            "branch": "main",
            "new_branch": branch,
            "message": f"add {branch}",
            "content": base64.b64encode(branch.encode()).decode(),
        },
    )


def test_gitea_client_against_the_real_server(gitea: GiteaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server = gitea
    with pytest.raises(ForgeError, match=r"404: .*No repository platform/unknown at http://127\.0\.0\.1") as unknown:
        Gitea(server.token, f"{ORG}/unknown", server.url).find(BRANCH, "main")
    assert (unknown.value.status, unknown.value.exit_code) == (404, 1)
    with pytest.raises(ForgeError, match=r"401: .*Check GITEA_TOKEN") as unauthorized:
        Gitea("wrong-" + server.token, f"{ORG}/unknown", server.url).find(BRANCH, "main")
    assert server.token not in str(unauthorized.value)

    repo = new_repo(server)
    client = Gitea(server.token, f"{ORG}/{repo}", server.url)
    with pytest.raises(ForgeError, match="404") as no_branch:
        client.open_or_update("no-such-branch", "main", "t", "b")
    assert no_branch.value.status == 404
    with pytest.raises(ForgeError, match=r"422: .*no changes"):
        client.open_or_update("main", "main", "t", "b")

    # paging: with one pull request per page the third one is found on page 3
    for name in ("b1", "b2", "b3"):
        add_branch(server, repo, name)
        assert client.open_or_update(name, "main", f"t-{name}", "b").action == "created"
    monkeypatch.setattr("mlflow_gitops.gitops.gitea.PAGE_SIZE", 1)
    found = client.find("b3", "main")
    assert found is not None and found["title"] == "t-b3"
    assert client.find("b4", "main") is None
    updated = client.open_or_update("b3", "main", "t-b3 again", "b2")
    assert updated.action == "updated" and updated.number == found["number"]
    # a pull request opened meanwhile (between our look and our create): Gitea's 409 becomes an update
    with pytest.raises(ForgeError, match=r"409: .*already open") as conflict:
        client._request("POST", client._pulls(), {"head": "b1", "base": "main", "title": "dup"})
    assert conflict.value.status == 409
    real_find, looks = client.find, []

    def late_find(branch: str, base: str) -> dict[str, Any] | None:
        looks.append(branch)
        return None if len(looks) == 1 else real_find(branch, base)

    monkeypatch.setattr(client, "find", late_find)
    raced = client.open_or_update("b2", "main", "t-b2 raced", "b")
    assert raced.action == "updated" and looks == ["b2", "b2"]
    assert sorted(p["title"] for p in server.pulls(ORG, repo, "open")) == ["t-b1", "t-b2 raced", "t-b3 again"]


def test_gitea_settings_from_the_environment() -> None:
    assert server_from_url("https://git.example.com/org/gitops.git") == "https://git.example.com"
    assert server_from_url("http://user:secret@127.0.0.1:3000/org/gitops") == "http://127.0.0.1:3000"
    assert server_from_url("https://example.com/gitea/org/gitops.git") == "https://example.com/gitea"
    assert server_from_url("git@example.com:org/gitops.git") is None
    assert server_from_url("https://example.com/gitops.git") is None
    client = Gitea.from_environment({"GITEA_TOKEN": "t"}, "https://git.example.com/org/gitops.git")
    assert (client.repository, client.api_url) == ("org/gitops", "https://git.example.com/api/v1")
    local = Gitea.from_environment(
        {"GITEA_TOKEN": "t", "GITEA_URL": "https://g.example/", "GITEA_REPOSITORY": "o/r"}, "/srv/git/gitops.git"
    )
    assert (local.repository, local.api_url) == ("o/r", "https://g.example/api/v1")
    with pytest.raises(ForgeError, match="GITEA_REPOSITORY") as no_repository:
        Gitea.from_environment({"GITEA_TOKEN": "t", "GITEA_URL": "https://g.example"}, "/srv/git/gitops.git")
    assert no_repository.value.exit_code == 2
    with pytest.raises(ForgeError, match="GITEA_REPOSITORY 'not-a-repo'"):
        Gitea.from_environment(
            {"GITEA_TOKEN": "t", "GITEA_URL": "https://g.example", "GITEA_REPOSITORY": "not-a-repo"},
            "/srv/git/gitops.git",
        )


def test_the_diff_comment_is_kept_once_on_a_gitea_pull_request(gitea: GiteaServer) -> None:
    """`diff --comment-on-pr --forge gitea` speaks this: one comment, found by its marker and edited in place."""
    from mlflow_gitops.gitops.forge import COMMENT_MARKER

    server = gitea
    repo = new_repo(server)
    add_branch(server, repo, "config-change")
    client = Gitea(server.token, f"{ORG}/{repo}", server.url)
    number = client.open_or_update("config-change", "main", "a config change", "b").number
    server.api("POST", f"/repos/{ORG}/{repo}/issues/{number}/comments", json={"body": "LGTM"})
    first = client.comment(number, "### mlflow-gitops diff\n\n1 changed")
    assert first.action == "created" and first.url.startswith(server.url)
    second = client.comment(number, "### mlflow-gitops diff\n\n2 changed")
    third = client.comment(number, "### mlflow-gitops diff\n\n2 changed")
    assert (second.action, second.id, third.action) == ("updated", first.id, "unchanged")
    bodies = [c["body"] for c in server.api("GET", f"/repos/{ORG}/{repo}/issues/{number}/comments")]
    assert bodies == ["LGTM", f"{COMMENT_MARKER}\n### mlflow-gitops diff\n\n2 changed"]
