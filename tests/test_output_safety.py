"""`synth --out` never loses data: it replaces only folders it wrote, atomically for readers, crash-safe at
every point (a kill sweep over every file-system operation of a write), one writer at a time.

The sweeps fork a child that runs the writer with an audit hook (sys.addaudithook) counting the file-system
events it makes and SIGKILLs itself at the n-th: every n from the first to the last is tried.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mlflow_gitops.output import header, replace, write_tree
from mlflow_gitops.output.replace import LEGACY_STAGING_PREFIX, STAGING_PREFIX, OutputError
from tests.test_config import tree_digest

EVENTS = {
    "open",
    "os.mkdir",
    "os.rename",
    "os.replace",
    "os.remove",
    "os.rmdir",
    "os.listdir",
    "os.scandir",
    "shutil.rmtree",
    "ctypes.call_function",
    "fcntl.flock",
    "os.chmod",
    "os.symlink",
    "os.truncate",
}


def render_like(env: str, tag: str, objects: int = 12) -> dict[str, str]:
    """A tree shaped like a render of `env` (units, a file per object, kustomizations), content per `tag`."""
    files = {f"{env}/kustomization.yaml": header(env) + "resources: [platform, app]\n"}
    for unit in ("platform", "app"):
        names = [f"ns_configmap_{unit}-{i}.yaml" for i in range(objects)]
        files[f"{env}/{unit}/kustomization.yaml"] = header(env) + f"resources: {names}\n"
        for name in names:
            files[f"{env}/{unit}/{name}"] = header(env) + f"kind: ConfigMap\ndata: {{tag: {tag}, name: {name}}}\n"
    return files


def on_disk(out: Path, env: str) -> dict[str, str]:
    root = out / env
    return {f"{env}/{p.relative_to(root)}": p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def killed_at(n: int, action: Callable[[], None]) -> int:
    """Run `action` in a forked child that SIGKILLs itself at its n-th file-system event (0: never).
    Return the number of events the child made before it died or finished."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        count = 0

        def hook(event: str, _args: tuple) -> None:
            nonlocal count
            if event in EVENTS:
                count += 1
                os.write(write, b".")
                if count == n:
                    os.kill(os.getpid(), signal.SIGKILL)

        sys.addaudithook(hook)
        try:
            action()
        except BaseException:
            os._exit(3)
        os._exit(0)
    os.close(write)
    seen = b""
    while chunk := os.read(read, 65536):
        seen += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, -signal.SIGKILL), f"the writer failed (exit {code}) at event {n}"
    return len(seen)


def visible_leftovers(out: Path, envs: set[str]) -> list[str]:
    """What `git add -A` would pick up besides the environment folders: staging folders are git-ignored."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored=no", "."],
        cwd=out,
        capture_output=True,
        text=True,
        check=True,
    )
    paths = [line[3:] for line in done.stdout.splitlines()]
    return [p for p in paths if p.split("/", 1)[0] not in envs]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output folder inside a git work tree, holding an earlier render of `dev` and a user's file."""
    folder = tmp_path / "out"
    write_tree(render_like("dev", "old"), folder, ["dev"])
    (folder / "README.md").write_text("the user's own file\n")
    subprocess.run(["git", "init", "-q", "."], cwd=folder, check=True)
    subprocess.run(["git", "add", "README.md"], cwd=folder, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgSign=false",
            "-c",
            "core.hooksPath=/dev/null",
            "commit",
            "-q",
            "-m",
            "x",
        ],
        cwd=folder,
        check=True,
    )
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames-fallback"])
def test_kill_sweep_every_point_of_a_write_leaves_old_or_new_and_the_next_run_cleans_up(
    out: Path, exchange: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = render_like("dev", "old"), render_like("dev", "new")
    if not exchange:  # as on a kernel or filesystem without RENAME_EXCHANGE
        real = replace._rename2
        monkeypatch.setattr(replace, "_rename2", lambda a, b, flags: False if flags == 2 else real(a, b, flags))
    total = killed_at(0, lambda: write_tree(new, out, ["dev"]))
    write_tree(old, out, ["dev"])
    assert total > 50
    missing = 0
    for n in range(1, total + 1):
        killed_at(n, lambda: write_tree(new, out, ["dev"]))
        if (out / "dev").exists():
            assert on_disk(out, "dev") in (old, new), f"a mixed tree after a kill at event {n}"
        else:
            assert not exchange, f"dev/ missing after a kill at event {n}"
            missing += 1
        assert visible_leftovers(out, {"dev", "other"}) == [], f"git would commit leftovers of a kill at event {n}"
        write_tree(render_like("other", "x"), out, ["other"])  # another environment's run repairs and sweeps
        assert on_disk(out, "dev") in (old, new), f"not repaired after a kill at event {n}"
        assert sorted(p.name for p in out.iterdir()) == [".git", "README.md", "dev", "other"], n
        write_tree(old, out, ["dev"])
    assert exchange or missing > 0, "the fallback sweep never hit the gap between its two renames"
    assert (out / "README.md").read_text() == "the user's own file\n"


def read_like_kustomize(out: Path, env: str) -> dict[str, str] | None:
    """One look at `out/env` as kustomize takes it: open the folder (it must exist), then read each
    kustomization.yaml and the files it lists, all through that one folder. None when the tree this look
    opened was removed under it (the old tree, once the swap is done): a reader then looks again."""
    fd = os.open(out / env, os.O_RDONLY | os.O_DIRECTORY)  # FileNotFoundError here: the folder was missing
    seen: dict[str, str] = {}
    try:

        def read(relative: str) -> str:
            with open(os.open(relative, os.O_RDONLY, dir_fd=fd)) as handle:
                seen[f"{env}/{relative}"] = text = handle.read()
            return text

        top = yaml.safe_load(read("kustomization.yaml"))
        for unit in top["resources"]:
            for name in yaml.safe_load(read(f"{unit}/kustomization.yaml"))["resources"]:
                read(f"{unit}/{name}")
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)
    return seen


def test_readers_never_see_a_missing_or_mixed_folder(out: Path) -> None:
    """A reader polling while another process replaces the folder 200 times: the folder is always there,
    and every look that completes is one whole render, old or new."""
    trees = [render_like("dev", "old"), render_like("dev", "new")]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the writer
        for i in range(200):
            write_tree(trees[i % 2], out, ["dev"])
        os._exit(0)
    looks = again = 0
    running = True
    try:
        while running:
            running = os.waitpid(pid, os.WNOHANG) == (0, 0)
            seen = read_like_kustomize(out, "dev")
            if seen is None:
                again += 1
                continue
            assert seen in trees, "a reader saw a mixed tree"
            looks += 1
    finally:
        if running:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert looks > 20 and again < looks


@pytest.mark.slow
def test_two_synths_at_once_are_serialised_and_the_tree_is_one_render(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "dist"
    environ = os.environ.copy()
    for round_ in range(3):
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "mlflow_gitops", "synth", "--out", str(out)],
                cwd=tmp_path,
                env={**environ, "MLFLOW_IMAGE_TAG": tag},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for tag in ("a", "b")
        ]
        outputs = [run.communicate(timeout=180) for run in runs]
        for run, (_, stderr) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, stderr
            assert "Traceback" not in stderr
        files = {p.name for p in (out / "default" / "app").iterdir()}
        text = (out / "default" / "app" / "mlflow_deployment_mlflow.yaml").read_text()
        tag = "a" if "mlflow:a\n" in text else "b"
        expected = tmp_path / f"expected-{tag}"
        if not expected.exists():
            assert run_cli("synth", "--out", str(expected), env={"MLFLOW_IMAGE_TAG": tag}).returncode == 0
        assert tree_digest(out) == tree_digest(expected), f"round {round_}: the tree is not one whole render"
        assert files and sorted(p.name for p in out.iterdir()) == ["default"]


def test_a_user_folder_named_like_the_environment_is_never_deleted(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "dist"
    (out / "default" / "notes").mkdir(parents=True)
    (out / "default" / "notes" / "todo.md").write_text("mine\n")
    before = tree_digest(out)
    result = run_cli("synth", "--out", str(out))
    assert result.returncode == 2
    assert f"{out}/default holds files mlflow-gitops did not write for environment 'default'" in result.stderr
    assert f"{out}/default/notes/todo.md" in result.stderr and "Nothing was written" in result.stderr
    assert tree_digest(out) == before and sorted(p.name for p in out.iterdir()) == ["default"]


def test_the_config_folder_is_never_an_output_folder(tmp_path: Path, run_cli) -> None:
    config = tmp_path / "cfg" / "prod"
    config.mkdir(parents=True)
    (config / "team.yaml").write_text("instances:\n  - name: team-a\n")
    before = tree_digest(tmp_path)
    for out in ("cfg", "cfg/prod", "."):
        result = run_cli("synth", "--config-dir", "cfg/prod", "--out", out)
        assert result.returncode == 2, result.stderr
        assert f"--out {out}: is the config folder cfg/prod or a folder above it" in result.stderr
    result = run_cli("synth", "--config-dir", "cfg/prod", "--out", "/")
    assert result.returncode == 2 and "--out /: is the root folder" in result.stderr
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli("synth", "--out", str(home), env={"HOME": str(home)})
    assert result.returncode == 2 and "is your home folder" in result.stderr
    home.rmdir()
    assert tree_digest(tmp_path) == before


def test_leftovers_of_killed_runs_are_swept_only_when_they_are_ours(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(render_like("dev", "old"), out, ["dev"])
    ours_now = out / f"{STAGING_PREFIX}killed"
    (ours_now / "dev").mkdir(parents=True)
    (ours_now / ".gitignore").write_text(replace.STAGING_MARKER_TEXT)
    empty = out / f"{STAGING_PREFIX}empty"
    empty.mkdir()
    legacy = out / f"{LEGACY_STAGING_PREFIX}abc"  # an earlier version, killed between its two renames
    (legacy / ".old-prod").mkdir(parents=True)
    (legacy / ".old-prod" / "kustomization.yaml").write_text(header("prod") + "resources: []\n")
    users = out / f"{LEGACY_STAGING_PREFIX}mine"
    users.mkdir()
    (users / "notes.txt").write_text("mine\n")
    fake = out / f"{STAGING_PREFIX}not-ours"
    fake.mkdir()
    (fake / "data.txt").write_text("mine too\n")
    write_tree(render_like("dev", "new"), out, ["dev"])
    assert sorted(p.name for p in out.iterdir()) == sorted(["dev", "prod", users.name, fake.name])
    assert (out / "prod" / "kustomization.yaml").read_text().startswith(header("prod")), "restored, not lost"
    assert (users / "notes.txt").read_text() == "mine\n" and (fake / "data.txt").read_text() == "mine too\n"


def test_a_folder_edited_by_hand_or_a_link_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(render_like("dev", "old"), out, ["dev"])
    (out / "dev" / "app" / "patch.yaml").write_text("kind: ConfigMap\n")
    before = tree_digest(out)
    with pytest.raises(OutputError, match=r"out/dev/app/patch.yaml"):
        write_tree(render_like("dev", "new"), out, ["dev"])
    assert tree_digest(out) == before
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", out / "linked")
    with pytest.raises(OutputError, match="is a symbolic link"):
        write_tree(render_like("linked", "new"), out, ["linked"])
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_second_writer_waits_for_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the second writer, started once the first holds the lock
        os.read(go_read, 1)
        started = time.monotonic()
        write_tree(render_like("dev", "x"), out, ["dev"], waiting=lambda: None)
        os._exit(0 if time.monotonic() - started > 0.3 else 4)
    with replace.locked(out):
        os.write(go_write, b"x")
        time.sleep(0.5)
        assert not (out / "dev").exists(), "wrote while the lock was held"
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the second writer did not wait"
    assert (out / "dev" / "kustomization.yaml").exists()
