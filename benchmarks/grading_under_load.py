"""The sample batch graded on an idle machine and on a busy one: the same grades, and how long.

    python benchmarks/grading_under_load.py                 # a table
    python benchmarks/grading_under_load.py --json          # one JSON object
    python benchmarks/grading_under_load.py --load 0 4 --jobs 1 2 --shards 2

Grades every sample of tests/submissions/ (honest and hostile, with the two made at test time)
with ``python -m grader autograde --timeout 6 --wall-timeout 300`` (the limits of the test
suite) once per (``--load``, ``--jobs``) pair, one run after the other. ``--load N`` starts N
processes that spin on the CPU for the whole run (4 on a 2-core machine: a laptop with a browser
and a second kernel open is not far from that) and stops them afterwards. The claim: limits count
the submission's CPU seconds, not the wall clock, so every run gives grades.csv with the same
bytes, only slower. ``--shards N`` adds, for each load, a run in N ``--shard I/N`` slices one
after the other, joined by ``python -m grader merge``. Printed: each run's wall seconds and
whether its grades.csv equals the first run's; the exit code is 1 if any differs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIMITS = ["--timeout", "6", "--wall-timeout", "300"]


def make_batch(folder: Path, only: list[str] | None = None) -> int:
    """The sample students (all, or ``only`` these) in ``folder``; their number."""
    shutil.copytree(REPO / "tests" / "submissions", folder, symlinks=True)
    (folder / "expected_grades.csv").unlink()
    spec = importlib.util.spec_from_file_location("samples",
                                                  REPO / "tests" / "make_sample_submissions.py")
    samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(samples)
    if only is None or {"symlink_to_solution", "notebook_50mb"} & set(only):
        samples.extra_samples(folder)
    for student in list(folder.iterdir()):
        if only is not None and student.name not in only:
            shutil.rmtree(student)
    return sum(1 for p in folder.iterdir() if p.is_dir())


def spinners(count: int) -> list[subprocess.Popen]:
    """``count`` processes that spin on the CPU, each in a session of its own: Linux's
    autogroup scheduling gives a share of the CPU per session, as it does to each program a
    person starts (so processes of this script's session would weigh as one)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(count)]


def grader(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, text=True,
                          capture_output=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"grading failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def grade(submissions: Path, out: Path, jobs: int, load: int, extra: list[str],
          shards: int = 0) -> float:
    """Wall seconds to grade ``submissions`` into ``out`` (in ``shards`` slices if > 0)."""
    busy = spinners(load)
    try:
        start = time.perf_counter()
        if shards:
            parts = [f"{out}-shard{index}" for index in range(1, shards + 1)]
            for index, part in enumerate(parts, 1):
                grader("autograde", str(submissions), "--out", part, "--jobs", str(jobs),
                       "--shard", f"{index}/{shards}", *LIMITS, *extra)
            grader("merge", *parts, "--out", str(out))
        else:
            grader("autograde", str(submissions), "--out", str(out), "--jobs", str(jobs),
                   *LIMITS, *extra)
        seconds = time.perf_counter() - start
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=int, nargs="+", default=[0, 4],
                        help="busy processes beside the grader, one run each (default: 0 4)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[2],
                        help="--jobs values, one run each (default: 2)")
    parser.add_argument("--shards", type=int, default=0,
                        help="also grade in this many shards, merged, per load (default: none)")
    parser.add_argument("--only", nargs="+", metavar="STUDENT",
                        help="grade only these sample students (default: all)")
    parser.add_argument("--no-sandbox", action="store_true", help="grade without the sandbox")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    extra = ["--no-sandbox"] if args.no_sandbox else []
    runs = []
    with tempfile.TemporaryDirectory(prefix="grading-load-") as tmp:
        submissions = Path(tmp) / "batch"
        count = make_batch(submissions, args.only)
        reference = None
        for load in args.load:
            for jobs, shards in [(jobs, 0) for jobs in args.jobs] + (
                    [(max(args.jobs), args.shards)] if args.shards else []):
                out = Path(tmp) / f"out-load{load}-jobs{jobs}-shards{shards}"
                seconds = grade(submissions, out, jobs, load, extra, shards)
                grades = (out / "grades.csv").read_bytes()
                reference = reference or grades
                runs.append({"load": load, "jobs": jobs, "shards": shards,
                             "seconds": round(seconds, 1), "same_grades_csv": grades == reference})
    result = {"students": count, "cores": os.cpu_count(), "sandbox": not args.no_sandbox,
              "limits": " ".join(LIMITS), "runs": runs}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{count} sample students, {os.cpu_count()} cores, "
              f"{'sandboxed' if result['sandbox'] else 'no sandbox'}, {result['limits']}")
        print(f"{'busy processes':>14}  {'jobs':>4}  {'shards':>6}  {'seconds':>8}  "
              "same grades.csv")
        for run in runs:
            same = "yes" if run["same_grades_csv"] else "NO"
            shards = run["shards"] or "-"
            print(f"{run['load']:>14}  {run['jobs']:>4}  {shards:>6}  "
                  f"{run['seconds']:>8.1f}  {same}")
    return 0 if all(run["same_grades_csv"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
