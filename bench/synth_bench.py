"""Synth benchmark: prints one table. Run on demand (not part of the test suite):

    .venv/bin/python bench/synth_bench.py [--runs 5] [--instances 100]

Rows, each a fresh process per run, wall time = median of the runs:
  (a) the floor: a bare cdk8s app (import cdk8s and cdk8s_plus_28, one object, synth);
  (b) `mlflow-gitops synth` of the default environment;
  (c) `mlflow-gitops synth` of one environment with --instances instances;
  (d) the emitter floor: the product's own YAML emitter (`output.files.dump`, libyaml's CSafeDumper) writing
      the very objects (c) renders, from already-built dicts (a process that loads them from a JSON file and
      dumps them);
  (e) `mlflow-gitops validate` of the default environment (it must not start Node).
Peak RSS is sampled from /proc (VmHWM) for the Python process and its Node child (jsii) separately.
Then: strict validation of every document of (c), time per document, after loading the validators once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BARE = HERE / "bare_app.py"
DUMP = """
import json, sys
from mlflow_gitops.output.files import dump
docs = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as out:
    for doc in docs:
        out.write("---\\n" + dump(doc))
"""
TARGETS = {"b/a": 1.3, "c/d": 3.0, "rss_c": 200.0, "validate_s": 0.3}


@dataclass
class Row:
    name: str
    times: list[float]
    python_mb: float
    node_mb: float
    objects: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """Wall time and peak RSS (MB) of the process and of its descendants (Node), sampled every 5 ms."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    python_kb = node_kb = 0
    while proc.poll() is None:
        python_kb = max(python_kb, _hwm_kb(proc.pid))
        stack, descendants = _children(proc.pid), 0
        while stack:
            pid = stack.pop()
            descendants += _hwm_kb(pid)
            stack += _children(pid)
        node_kb = max(node_kb, descendants)
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode()[-2000:]}")
    return elapsed, python_kb / 1024, node_kb / 1024


def measure(name: str, cmd: list[str], runs: int, objects: int, env: dict[str, str], cwd: Path) -> Row:
    results = [run(cmd, env, cwd) for _ in range(runs)]
    return Row(name, [r[0] for r in results], max(r[1] for r in results), max(r[2] for r in results), objects)


def environment(folder: Path, instances: int) -> None:
    lines = ["instances:"] + [f"  - name: team-{i:03d}" for i in range(instances)]
    (folder / "big.yaml").write_text("\n".join(lines) + "\n")


def rendered_documents(config_dir: Path | None, names: list[str] | None) -> list[dict]:
    from mlflow_gitops.app import render
    from mlflow_gitops.config import load_environments

    return [doc for r in render(load_environments(names, config_dir, {})) for doc in r.documents]


def validation_ms_per_document(docs: list[dict]) -> tuple[float, int]:
    from mlflow_gitops.crds import default_crd_dir

    sys.path.insert(0, str(REPO))  # tests/validation.py: the strict validator is test code
    from tests.validation import SchemaValidator

    validator = SchemaValidator(default_crd_dir())
    validator.validate_all(docs[: min(len(docs), 200)])  # builds every validator once
    started = time.perf_counter()
    errors = validator.validate_all(docs)
    elapsed = time.perf_counter() - started
    assert not errors, errors
    return elapsed * 1000 / len(docs), len(docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--instances", type=int, default=100)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "KEYCLOAK_", "MONITORING_"))}
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        empty, big = work / "empty", work / "big"
        empty.mkdir()
        big.mkdir()
        environment(big, args.instances)
        default_docs = rendered_documents(None, None)
        big_docs = rendered_documents(big, ["big"])
        docs_json = work / "docs.json"
        docs_json.write_text(json.dumps(big_docs))
        synth = [sys.executable, "-m", "mlflow_gitops", "synth", "--quiet"]
        rows = [
            measure("(a) bare cdk8s app", [sys.executable, str(BARE), str(work / "bare")], args.runs, 1, env, empty),
            measure(
                "(b) default environment",
                [*synth, "--out", str(work / "b")],
                args.runs,
                len(default_docs),
                env,
                empty,
            ),
            measure(
                f"(c) {args.instances} instances",
                [*synth, "--config-dir", str(big), "--out", str(work / "c")],
                args.runs,
                len(big_docs),
                env,
                empty,
            ),
            measure(
                "(d) emitter floor of (c)",
                [sys.executable, "-c", DUMP, str(docs_json), str(work / "d.yaml")],
                args.runs,
                len(big_docs),
                env,
                empty,
            ),
            measure(
                "(e) validate (default)",
                [sys.executable, "-m", "mlflow_gitops", "validate"],
                args.runs,
                0,
                env,
                empty,
            ),
        ]
        per_doc, count = validation_ms_per_document(big_docs)
    print(f"{'case':<28}{'median s':>10}{'python MB':>11}{'node MB':>9}{'objects':>9}   runs (s)")
    for row in rows:
        runs = " ".join(f"{t:.2f}" for t in row.times)
        print(f"{row.name:<28}{row.median:>10.3f}{row.python_mb:>11.0f}{row.node_mb:>9.0f}{row.objects:>9}   {runs}")
    a, b, c, d, e = (row.median for row in rows)
    c_rss = rows[2].python_mb + rows[2].node_mb
    print(
        f"b/a = {b / a:.2f} (target <= {TARGETS['b/a']})   c/d = {c / d:.2f} (target <= {TARGETS['c/d']})   "
        f"peak RSS (c) = {c_rss:.0f} MB (target <= {TARGETS['rss_c']:.0f})   "
        f"validate = {e:.3f} s with {'no Node' if rows[4].node_mb == 0 else 'Node'} (target <= {TARGETS['validate_s']})"
    )
    print(f"strict validation of (c): {per_doc:.3f} ms per document over {count} documents (target <= 0.5)")


if __name__ == "__main__":
    main()
