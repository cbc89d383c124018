"""How long the autograder takes per submission, one job at a time vs several at once.

    python benchmarks/grading_throughput.py                # a table
    python benchmarks/grading_throughput.py --json         # one JSON object
    python benchmarks/grading_throughput.py --count 20 --jobs 1 2 4

A class of ``--count`` submissions is made from the honest samples of tests/submissions/ (right,
partly right, blank, noisy, damaged by accident, in turn: what a real batch holds) and graded
with ``python -m grader autograde`` once per ``--jobs`` value, one run after the other on this
machine, in the sandbox when the OS gives one. Printed: wall seconds per run, seconds per
submission and the speed-up over the first run; every run must give the same grades.csv bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ["perfect", "right_padding_leak", "blank", "buggy_generate", "noisy_but_right",
           "duplicated_test_cell", "stripped_metadata", "magics_and_plots", "tests_made_answers",
           "deleted_test_cell"]


def make_class(folder: Path, count: int) -> None:
    for index in range(count):
        sample = SAMPLES[index % len(SAMPLES)]
        shutil.copytree(REPO / "tests" / "submissions" / sample, folder / f"s{index:03d}_{sample}")


def grade(submissions: Path, out: Path, jobs: int, extra: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grader", "autograde", str(submissions), "--out",
                           str(out), "--jobs", str(jobs), *extra], cwd=REPO, text=True,
                          capture_output=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1) or not (out / "grades.csv").exists():
        sys.exit(f"grading failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50, help="submissions (default 50)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                        help="--jobs values to compare (default: 1 2)")
    parser.add_argument("--no-sandbox", action="store_true", help="grade without the sandbox")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    extra = ["--no-sandbox"] if args.no_sandbox else []
    runs = []
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        submissions = Path(tmp) / "class"
        make_class(submissions, args.count)
        reference = None
        for jobs in args.jobs:
            out = Path(tmp) / f"out-jobs{jobs}"
            seconds = grade(submissions, out, jobs, extra)
            grades = (out / "grades.csv").read_bytes()
            reference = reference or grades
            runs.append({"jobs": jobs, "seconds": round(seconds, 1),
                         "seconds_per_submission": round(seconds / args.count, 2),
                         "same_grades_csv": grades == reference})
    for run in runs:
        run["speedup"] = round(runs[0]["seconds"] / run["seconds"], 2)
    result = {"submissions": args.count, "cores": os.cpu_count(),
              "sandbox": not args.no_sandbox, "runs": runs}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.count} submissions, {os.cpu_count()} cores, "
              f"{'sandboxed' if result['sandbox'] else 'no sandbox'}")
        print(f"{'jobs':>4}  {'seconds':>8}  {'s/submission':>12}  {'speed-up':>8}  same grades")
        for run in runs:
            same = "yes" if run["same_grades_csv"] else "NO"
            print(f"{run['jobs']:>4}  {run['seconds']:>8.1f}  "
                  f"{run['seconds_per_submission']:>12.2f}  {run['speedup']:>7.2f}x  {same}")
    return 0 if all(run["same_grades_csv"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
