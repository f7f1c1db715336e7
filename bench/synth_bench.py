"""Synth benchmark: prints a table, wall time as the median of fresh processes.

    .venv/bin/python bench/synth_bench.py [--runs 5]

Rows: (a) the floor, a bare cdk8s app; (b) `mlflow-gitops synth` of the default environment.
Run on demand; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def wall(cmd: list[str], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run([*cmd, out], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = {
        "(a) bare cdk8s app": [sys.executable, str(HERE / "bare_app.py")],
        "(b) default environment": [sys.executable, "-m", "mlflow_gitops", "synth", "--quiet",
                                    "--config-dir", str(HERE / "no-config"), "--out"],
    }
    results = {name: wall(cmd, args.runs) for name, cmd in rows.items()}
    print(f"{'case':<28}{'median s':>10}   runs")
    for name, (median, times) in results.items():
        print(f"{name:<28}{median:>10.3f}   " + " ".join(f"{t:.3f}" for t in times))
    a, b = (results[name][0] for name in rows)
    print(f"b/a = {b / a:.2f}")


if __name__ == "__main__":
    main()
