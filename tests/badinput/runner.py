"""Run every bad-input case through the real command line, each in a process of its own, and measure it.

`python -m tests.badinput.runner [--json] [NAME ...]` prepares one folder per case (config, an output folder
holding an earlier render and a user's file, the case's own setup), forks a warm interpreter (the CLI and
its config layer imported, nothing of cdk8s or Node) that runs `mlflow-gitops ARGS` there, and records the
exit code, the output, the wall time, the child's peak RSS (what the fork inherited included) and whether
the folder is byte-for-byte what it was. `--json` prints the results for the tests; otherwise a table.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import stat
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from mlflow_gitops import cli
from mlflow_gitops.config import load_environments
from mlflow_gitops.config.load import ENV_OVERRIDES
from mlflow_gitops.output import header
from tests.badinput.cases import CASES, Case

TIMEOUT_SECONDS = 20.0
EARLIER_RENDER = {
    "out/keep/kustomization.yaml": header("keep") + "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: "
    "Kustomization\nresources: [app]\n",
    "out/keep/app/kustomization.yaml": header("keep") + "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: "
    "Kustomization\nresources: []\n",
    "out/user-notes.md": "written by a person: must survive every case\n",
}


@dataclass(frozen=True)
class Result:
    name: str
    group: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float
    untouched: bool
    changed: list[str]


def tree_state(root: Path) -> dict[str, str]:
    """Every entry below `root` (links not followed, FIFOs and devices never opened): path -> what it is."""
    state: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                state[key] = f"link {os.readlink(path)}"
            elif stat.S_ISREG(info.st_mode):
                state[key] = "file " + hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISDIR(info.st_mode):
                state[key] = "folder"
            else:
                state[key] = f"special {stat.S_IFMT(info.st_mode)}"
    return state


def prepare(case: Case, root: Path) -> None:
    for relative, content in {**EARLIER_RENDER, **case.files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.setup is not None:
        case.setup(root)


def _child(case: Case, root: Path, stdout: Path, stderr: Path) -> None:
    code = 99
    try:
        os.chdir(root)
        for var in ENV_OVERRIDES:
            os.environ.pop(var, None)
        os.environ.update(case.environ)
        out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(err, 2)
        try:
            code = cli.main(list(case.args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 98
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run(case: Case, scratch: Path) -> Result:
    root = scratch / f"case-{CASES.index(case):03d}"
    root.mkdir()
    prepare(case, root)
    before = tree_state(root)
    stdout, stderr = scratch / f"{root.name}.out", scratch / f"{root.name}.err"
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _child(case, root, stdout, stderr)
    deadline = started + TIMEOUT_SECONDS
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.kill(pid, signal.SIGKILL)
            done, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.0005)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    after = tree_state(root)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return Result(
        case.name,
        case.group,
        code,
        stdout.read_text(errors="replace"),
        stderr.read_text(errors="replace"),
        round(seconds, 4),
        round(usage.ru_maxrss / 1024, 1),
        not changed,
        changed,
    )


def run_all(names: list[str] | None = None) -> list[Result]:
    load_environments(None, None, {})  # warm the schema validator, as a long-lived CLI process would be
    selected = [c for c in CASES if not names or c.name in names]
    with tempfile.TemporaryDirectory(prefix="mlflow-gitops-badinput-") as scratch:
        return [run(case, Path(scratch)) for case in selected]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("names", nargs="*", help="run only these cases")
    args = parser.parse_args()
    results = run_all(args.names)
    if args.json:
        json.dump([asdict(r) for r in results], sys.stdout)
        return 0
    for r in results:
        print(
            f"{r.exit_code:>3} {r.seconds * 1000:7.1f} ms {r.max_rss_mb:6.1f} MB "
            f"{'untouched' if r.untouched else 'CHANGED'}  {r.group}: {r.name}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
