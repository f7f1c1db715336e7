"""Figures for the data-safety and bad-input work: prints a table, asserts nothing.

    .venv/bin/python -m bench.safety_bench

1. The bad-input corpus (tests/badinput): how many cases, how many exit 2 with every expected fragment and
   an untouched folder, the slowest and the largest (forked from a warm interpreter), then the five slowest
   again as fresh `mlflow-gitops` processes (interpreter start and imports included).
2. The kill sweep: a write of a 50-file environment killed at each of its file-system events, with the
   atomic exchange and with the two-rename fallback: what a reader finds right after each kill.
3. Two synths into one folder at once, and a reader polling a folder that is replaced 200 times.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from mlflow_gitops.output import replace, write_tree
from tests.badinput import runner
from tests.badinput.cases import CASES
from tests.test_output_safety import killed_at, on_disk, render_like

REPO = Path(__file__).resolve().parents[1]


def bad_input() -> None:
    results = runner.run_all()
    by_name = {c.name: c for c in CASES}
    precise = [
        r
        for r in results
        if r.exit_code == 2 and "Traceback" not in r.stderr and all(f in r.stderr for f in by_name[r.name].expect)
    ]
    untouched = [r for r in precise if r.untouched]
    slowest = sorted(results, key=lambda r: -r.seconds)[:5]
    print("## Bad input")
    print(
        f"cases: {len(results)} in {len(Counter(r.group for r in results))} groups; exit 2 with every expected "
        f"fragment: {len(precise)}; and the folder byte for byte untouched: {len(untouched)}"
    )
    print(
        f"longest (forked, warm): {slowest[0].seconds * 1000:.0f} ms ({slowest[0].name}); peak RSS of any case: "
        f"{max(r.max_rss_mb for r in results):.0f} MB"
    )
    print("five slowest again as fresh processes (interpreter start included):")
    with tempfile.TemporaryDirectory() as scratch:
        for result in slowest:
            case = by_name[result.name]
            root = Path(scratch) / str(CASES.index(case))
            root.mkdir()
            runner.prepare(case, root)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "mlflow_gitops", *case.args],
                cwd=root,
                capture_output=True,
                env={**os.environ, **case.environ},
                timeout=60,
            )
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(
                f"  {seconds * 1000:5.0f} ms  peak RSS {max(peak, before.ru_maxrss / 1024):5.0f} MB  exit "
                f"{done.returncode}  {case.name}"
            )


def kill_sweep() -> None:
    print("## Kill sweep")
    real = replace._rename2

    def without_exchange(source: Path, target: Path, flags: int) -> bool:
        return False if flags == 2 else real(source, target, flags)

    for mode in ("renameat2 exchange", "two-rename fallback"):
        if mode != "renameat2 exchange":
            replace._rename2 = without_exchange
        try:
            with tempfile.TemporaryDirectory() as scratch:
                out = Path(scratch) / "out"
                old, new = render_like("dev", "old"), render_like("dev", "new")
                write_tree(old, out, ["dev"])
                total = killed_at(0, lambda out=out, new=new: write_tree(new, out, ["dev"]))
                seen: Counter[str] = Counter()
                for n in range(1, total + 1):
                    killed_at(n, lambda out=out, new=new: write_tree(new, out, ["dev"]))
                    state = (
                        "missing"
                        if not (out / "dev").exists()
                        else ("old" if on_disk(out, "dev") == old else "new" if on_disk(out, "dev") == new else "MIXED")
                    )
                    write_tree(render_like("other", "x"), out, ["other"])
                    repaired = on_disk(out, "dev") in (old, new) and sorted(os.listdir(out)) == ["dev", "other"]
                    seen[f"{state}{'' if repaired else ' NOT REPAIRED'}"] += 1
                    write_tree(old, out, ["dev"])
                print(
                    f"{mode}: {total} kill points; right after the kill: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(seen.items()))
                    + "; every one whole again after the next run"
                    if all("NOT" not in k for k in seen)
                    else ""
                )
        finally:
            replace._rename2 = real


def concurrency() -> None:
    print("## Concurrency")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "dist"
        ok = 0
        rounds = 5
        started = time.perf_counter()
        for _ in range(rounds):
            runs = [
                subprocess.Popen(
                    [sys.executable, "-m", "mlflow_gitops", "synth", "--quiet", "--out", str(out)],
                    cwd=scratch,
                    env={**os.environ, "MLFLOW_IMAGE_TAG": tag},
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for tag in ("a", "b")
            ]
            codes = [(run.wait(timeout=180), run.stderr.read() if run.stderr else "") for run in runs]
            ok += sum(code == 0 and "Traceback" not in err for code, err in codes)
        print(
            f"{rounds} rounds of two synths into one folder: {ok}/{2 * rounds} exit 0 without a traceback "
            f"({time.perf_counter() - started:.1f} s)"
        )


def main() -> int:
    bad_input()
    kill_sweep()
    concurrency()
    return 0


if __name__ == "__main__":
    sys.exit(main())
