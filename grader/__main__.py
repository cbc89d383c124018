"""Command line of the course grader; run it from the repository root with the course's Python.

    python -m grader release            regenerate exercises/ from solutions/
    python -m grader release --check    fail if exercises/ is out of sync with solutions/
    python -m grader autograde SUBMISSIONS --out DIR [--jobs N] [--shard I/N] [--timeout S] ...
    python -m grader merge OUT1 OUT2 ... --out DIR

See ``grader/__init__.py`` for what each command does.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from grader.course import GraderError

WALL_FACTOR = 5  # grader.session.WALL_FACTOR, without importing torch for --help


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N (e.g. 3/8), got {text!r}")
    return int(match[1]), int(match[2])


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m grader",
        description="Release and autograde the course's nbgrader exercises. Grading state lives "
                    "in --out, never in the repository.")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    release = commands.add_parser(
        "release", help="regenerate exercises/ from solutions/ (nbgrader generate_assignment)",
        description="Regenerate exercises/ from solutions/ with nbgrader generate_assignment, "
                    "built in a temporary course root.")
    release.add_argument("--check", action="store_true",
                         help="write nothing; exit 1 and name the files if exercises/ differs "
                              "from what solutions/ generates")

    grade = commands.add_parser(
        "autograde", help="grade SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb",
        description="Grade every SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb. Each "
                    "submission runs in a sandboxed worker (no network, no access to the "
                    "solutions or other submissions, resource limits); the tests run in the "
                    "grader's own process. Writes DIR/grades.csv (student, assignment, score, "
                    "max_score, status, detail), DIR/feedback/<student>/<assignment>/*.html, "
                    "DIR/autograded/ (the instructor's copies) and DIR/logs/. Exit code 0 when "
                    "every submission was graded, 1 otherwise, 2 on a usage error.")
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                       help="folder with one folder per student")
    grade.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="output folder, made or rebuilt by this command (e.g. .grading, "
                            "which git ignores); a non-empty folder it did not make is refused")
    grade.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                       help="submissions graded at once (default: the number of cores, "
                            f"{os.cpu_count()} here)")
    grade.add_argument("--shard", type=shard, metavar="I/N",
                       help="grade only the I-th of N slices of the students (a stable hash of "
                            "the student's name); join the outputs with `merge`")
    grade.add_argument("--timeout", type=positive_int, default=60, metavar="S",
                       help="limit of each cell and each test cell in CPU seconds used by the "
                            "submission's processes, so that a busy machine costs no one a "
                            "point (default 60); code that sleeps is stopped after "
                            f"{WALL_FACTOR} times that in wall-clock seconds")
    grade.add_argument("--wall-timeout", type=positive_int, default=600, metavar="S",
                       help="wall-clock limit of one whole submission in seconds, a backstop "
                            "(default 600)")
    grade.add_argument("--memory-mb", type=positive_int, default=4096, metavar="MB",
                       help="address-space limit of a student's worker (default 4096)")
    grade.add_argument("--max-notebook-mb", type=positive_int, default=20, metavar="MB",
                       help="larger notebooks get status too_large (default 20)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run student code without the sandbox (only where the OS cannot "
                            "give one, on a machine or account used for nothing else)")

    merge = commands.add_parser(
        "merge", help="join the outputs of --shard runs into one",
        description="Join grades.csv (byte-identical to one run over all submissions), feedback/, "
                    "autograded/ and logs/ of the outputs of `autograde --shard I/N` runs.")
    merge.add_argument("outputs", type=Path, nargs="+", metavar="OUT")
    merge.add_argument("--out", type=Path, required=True, metavar="DIR")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "release":
            from grader.release import release

            return release(check=args.check)
        if args.command == "merge":
            from grader.merge import merge

            return merge(args.outputs, args.out)
        from grader.autograde import Settings, autograde
        from grader.sandbox import Limits, SandboxUnavailable

        settings = Settings(timeout=args.timeout, wall_timeout=args.wall_timeout, jobs=args.jobs,
                            shard=args.shard, no_sandbox=args.no_sandbox,
                            limits=Limits(memory_mb=args.memory_mb,
                                          cpu_seconds=args.wall_timeout + 30),
                            max_bytes=args.max_notebook_mb * 2**20)
        try:
            return autograde(args.submissions, args.out, settings)
        except SandboxUnavailable as error:
            raise GraderError(str(error)) from None
    except GraderError as error:
        print(f"python -m grader {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
