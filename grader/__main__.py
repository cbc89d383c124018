"""Command line of the course grader; run it from the repository root with the course's Python.

    python -m grader release            regenerate exercises/ from solutions/
    python -m grader release --check    fail if exercises/ is out of sync with solutions/
    python -m grader autograde SUBMISSIONS --out DIR [--jobs N] [--shard I/N] [--timeout S] ...
    python -m grader autograde --nbgrader-course COURSE --out DIR [--due DATE] ...
    python -m grader merge OUT1 OUT2 ... --out DIR

See ``grader/__init__.py`` for what each command does.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
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
                    "max_score, status, detail, submitted_at, late), "
                    "DIR/feedback/<student>/<assignment>/*.html, "
                    "DIR/autograded/ (the instructor's copies) and DIR/logs/. Exit code 0 when "
                    "every submission was graded, 1 otherwise, 2 on a usage error, 3 if the "
                    "grader itself failed.")
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS", nargs="?",
                       help="folder with one folder per student (or --nbgrader-course)")
    grade.add_argument("--nbgrader-course", type=Path, metavar="COURSE",
                       help="grade an nbgrader course's submitted/ folder and write the results "
                            "back into the course: per-cell scores in its gradebook, "
                            "autograded/ and feedback/ where `nbgrader release_feedback` finds "
                            "them; due dates from its gradebook")
    grade.add_argument("--due", metavar="DATE",
                       help="due date of every assignment graded (e.g. '2026-12-01 17:00:00 "
                            "UTC'), instead of the gradebook's: submissions whose timestamp.txt "
                            "is later are marked late in grades.csv")
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

    export = commands.add_parser(
        "export", help="write the grades as the CSV a Canvas or Moodle gradebook imports",
        description="Write the grades.csv of one or more outputs (their union) as a CSV file with "
                    "one row per student and one column per assignment, in the layout Canvas or "
                    "Moodle imports (or `wide`, for a spreadsheet). A submission that was not "
                    "graded, or not handed in, is an empty cell, never 0. See grader/export.py. "
                    "Exit code 0, 1 when malformed rows were left out, 2 on a usage error "
                    "(nothing written).")
    export.add_argument("outputs", type=Path, nargs="+", metavar="OUT")
    export.add_argument("--format", required=True, choices=("canvas", "moodle", "wide"),
                        help="the layout (grader.export.FORMATS)")
    export.add_argument("--out", type=Path, metavar="FILE",
                        help="write FILE atomically (default: standard output); an existing "
                             "file is overwritten only if it is an export of the same format")
    export.add_argument("--roster", type=Path, metavar="FILE",
                        help="students to list even without grades: one id per line, or a CSV "
                             "with a column named student or id")
    export.add_argument("--id-column", metavar="NAME",
                        help="the LMS column that holds the student id: canvas: sis_login_id "
                             "(default) or sis_user_id; moodle: username (default), idnumber "
                             "or email")
    export.add_argument("--titles", type=Path, metavar="FILE",
                        help="a CSV assignment,title naming each assignment's column as the "
                             "LMS knows it (e.g. Canvas's \"Title (id)\")")
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
        if args.command == "export":
            from grader.export import export

            return export(args.outputs, args.format, out=args.out, roster=args.roster,
                          id_column=args.id_column, titles=args.titles)
        if (args.submissions is None) == (args.nbgrader_course is None):
            raise GraderError("give either SUBMISSIONS or --nbgrader-course COURSE (whose "
                              "submitted/ folder is then graded), not both")
        if args.nbgrader_course is not None and args.shard:
            raise GraderError("--shard and --nbgrader-course do not go together: one run writes "
                              "the course's gradebook")
        from grader.autograde import Settings, autograde
        from grader.nbgrader_course import parse_due
        from grader.sandbox import Limits, SandboxUnavailable

        settings = Settings(timeout=args.timeout, wall_timeout=args.wall_timeout, jobs=args.jobs,
                            shard=args.shard, no_sandbox=args.no_sandbox,
                            limits=Limits(memory_mb=args.memory_mb,
                                          cpu_seconds=args.wall_timeout + 30),
                            max_bytes=args.max_notebook_mb * 2**20,
                            due=parse_due(args.due) if args.due else None,
                            nbgrader_course=args.nbgrader_course)
        try:
            return autograde(args.submissions, args.out, settings)
        except SandboxUnavailable as error:
            raise GraderError(str(error)) from None
    except GraderError as error:
        print(f"python -m grader {args.command}: error: {error}", file=sys.stderr)
        return 2


def run() -> int:
    """``main``, except that a failure of the grader itself (a traceback: a bug, never a
    submission's doing, which the sandbox contains) exits 3, not the 1 Python would give: 1 keeps
    meaning "graded, and some rows say why not", so that scripts (a Slurm task) tell them apart."""
    try:
        return main()
    except Exception:  # noqa: BLE001 - reported with its traceback, then the exit code says so
        traceback.print_exc()
        print("python -m grader: the grader itself failed (the traceback above says where); "
              "exit code 3", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(run())
