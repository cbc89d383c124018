"""Command line of the course grader; run it from the repository root with the course's Python.

    python -m grader release            regenerate exercises/ from solutions/
    python -m grader release --check    fail if exercises/ is out of sync with solutions/
    python -m grader autograde SUBMISSIONS --out DIR [--timeout S] [--wall-timeout S]

See ``grader/__init__.py`` for what each command does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.course import GraderError


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m grader",
        description="Release and autograde the course's nbgrader exercises. All nbgrader state "
                    "(gradebook, submitted/autograded/feedback copies) lives in a temporary "
                    "folder or in --out, never in the repository.")
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
        description="Grade every SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb, each in "
                    "its own nbgrader process. Writes DIR/grades.csv (student, assignment, "
                    "score, max_score, status, detail), HTML feedback in "
                    "DIR/feedback/<student>/<assignment>/ (hidden tests removed) and logs in "
                    "DIR/logs/. Exit code 0 when every submission was graded, 1 otherwise, 2 on "
                    "a usage error.")
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                       help="folder with one folder per student")
    grade.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="output folder, made or rebuilt by this command (e.g. .grading, "
                            "which git ignores); a non-empty folder it did not make is refused")
    grade.add_argument("--timeout", type=positive_int, default=60, metavar="S",
                       help="time limit of each cell in seconds (default: 60)")
    grade.add_argument("--wall-timeout", type=positive_int, default=600, metavar="S",
                       help="time limit of one whole submission in seconds (default: 600)")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "release":
            from grader.release import release

            return release(check=args.check)
        from grader.autograde import autograde

        return autograde(args.submissions, args.out, timeout=args.timeout,
                         wall_timeout=args.wall_timeout)
    except GraderError as error:
        print(f"python -m grader {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
