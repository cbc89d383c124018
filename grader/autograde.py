"""``python -m grader autograde SUBMISSIONS --out DIR``: grade a batch of submissions.

``DIR`` becomes an nbgrader course root holding everything the run makes: ``solutions/`` and
``exercises/`` (from the repository), ``gradebook.db``, ``submitted/``, ``autograded/``,
``feedback/<student>/<assignment>/*.html``, ``logs/`` and ``grades.csv``. Nothing is written
elsewhere. Each submission is graded by its own ``nbgrader autograde`` process with a wall-clock
limit, so an infinite loop, a dead kernel or a broken notebook only ever costs its own row.

``grades.csv`` (sorted by student, then assignment; the same bytes when regraded) has columns
``student, assignment, score, max_score, status, detail``. ``status`` is ``graded`` or a word
saying why it was not: ``timeout``, ``crashed``, ``invalid_json``, ``not_a_notebook``,
``missing_metadata``, ``missing_notebook``, ``unknown_assignment``, ``bad_layout``. ``score`` is
empty unless the status is ``graded``: a submission that could not be graded never looks like a
zero.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from grader.course import (
    REPO_ROOT,
    GraderError,
    RunResult,
    generate_assignments,
    list_assignments,
    make_course_root,
    run_nbgrader,
)
from grader.submissions import Submission, discover

MARKER = ".grader-output"
OWNED = ("grades.csv", "logs", "solutions", "exercises", "submitted", "autograded", "feedback",
         "gradebook.db", "nbgrader_config.py", "feedback_filter.py", "__pycache__")
COLUMNS = ("student", "assignment", "score", "max_score", "status", "detail")


def prepare_out(out: Path, submissions: Path) -> None:
    """Make ``out`` an empty grading folder, refusing to touch anything the grader did not make."""
    out, submissions = out.resolve(), submissions.resolve()
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise GraderError("--out and SUBMISSIONS must be apart, neither inside the other")
    if out == REPO_ROOT or out in REPO_ROOT.parents:
        raise GraderError("--out must not be the repository (or a folder above it)")
    if out.exists():
        if not out.is_dir():
            raise GraderError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise GraderError(f"refusing to write into {out}: it is not empty and was not made by "
                              "`python -m grader autograde` (no .grader-output file in it)")
        for name in OWNED:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("Made by `python -m grader autograde`; rebuilt on every run.\n",
                              encoding="utf-8")


def _clean(text: str, out: Path) -> str:
    """One line of a log, without this machine's paths."""
    return text.replace(str(out.resolve()), "<out>").replace(str(REPO_ROOT), "<repo>").strip()


def verdict(result: RunResult, notebooks: list[Path], out: Path, timeout: int,
            wall_timeout: float) -> tuple[str, str]:
    """(status, detail) of one nbgrader autograde run."""
    import nbformat

    if result.returncode is None:
        return "timeout", f"stopped at the {wall_timeout:g} s wall-clock limit"
    missing = [p for p in notebooks if not p.exists()]
    if result.returncode != 0 or missing:
        if "Timeout waiting for execute reply" in result.log:
            return "timeout", (f"a cell ran past the {timeout} s limit and could not be "
                               "interrupted")
        if "DeadKernelError" in result.log or "Kernel died" in result.log:
            return "crashed", "the kernel died while the notebook ran"
        errors = [line for line in result.log.splitlines() if "[ERROR]" in line or "Error" in line]
        last = _clean(errors[-1], out)[:200] if errors else f"exit code {result.returncode}"
        return "crashed", f"nbgrader failed: {last}"
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            for output in cell.get("outputs", []):
                if output.get("ename") == "CellTimeoutError":  # added by nbgrader at a timeout
                    name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index}"
                    return "timeout", f"cell {name} ran past the {timeout} s per-cell limit"
    return "graded", ""


def grade_one(row: Submission, notebooks: list[str], out: Path, timeout: int,
              wall_timeout: float) -> None:
    """Copy one submission into ``out/submitted`` and autograde it in its own process."""
    submitted = out / "submitted" / row.student / row.assignment
    submitted.mkdir(parents=True, exist_ok=True)
    for name in notebooks:
        source = row.folder / f"{name}.ipynb"
        if source.is_file():
            shutil.copyfile(source, submitted / f"{name}.ipynb")
    args = ["autograde", row.assignment, "--student", row.student, "--force",
            f"--ExecutePreprocessor.timeout={timeout}"]
    log = out / "logs" / f"autograde__{row.student}__{row.assignment}.log"
    result = run_nbgrader(args, out, log, wall_timeout=wall_timeout)
    row.seconds = result.seconds
    autograded = out / "autograded" / row.student / row.assignment
    paths = [autograded / f"{name}.ipynb" for name in notebooks
             if (submitted / f"{name}.ipynb").exists()]
    row.status, row.detail = verdict(result, paths, out, timeout, wall_timeout)
    row.ran = (row.status in ("graded", "timeout") and result.returncode == 0
               and all(p.exists() for p in paths))
    if not row.ran:
        shutil.rmtree(autograded, ignore_errors=True)  # no feedback from a half-run notebook


def max_scores(out: Path) -> dict[str, float]:
    """{assignment: max score} from the gradebook that generate_assignment filled."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        return {a.name: a.max_score for a in gb.assignments}


def read_score(row: Submission, out: Path) -> None:
    """The score of a graded row; for a timeout, the partial score goes into ``detail``."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        try:
            submission = gb.find_submission(row.assignment, row.student)
        except MissingEntry:
            row.status, row.detail = "crashed", "nbgrader recorded no grades"
            return
        if row.status == "graded":
            row.score = submission.score
        else:
            row.detail += f"; partial score {submission.score:g}/{submission.max_score:g}"


def summary(row: Submission) -> str:
    """One line per submission for the terminal."""
    score = f" {row.score:g}/{row.max_score:g}" if row.status == "graded" else ""
    detail = f": {row.detail}" if row.detail else ""
    name = f"{row.student}/{row.assignment or '-'}"
    return f"{name}: {row.status}{score} ({row.seconds:.1f} s){detail}"


def make_feedback(rows: list[Submission], out: Path) -> None:
    """HTML feedback (hidden tests removed) for every submission that ran to the end."""
    for assignment in sorted({r.assignment for r in rows if r.ran}):
        log = f"logs/generate_feedback__{assignment}.log"
        result = run_nbgrader(["generate_feedback", assignment, "--force"], out, out / log)
        if result.returncode != 0:
            print(f"warning: nbgrader generate_feedback reported errors (see {log})")
        for row in rows:
            html = out / "feedback" / row.student / row.assignment
            if row.assignment == assignment and row.status == "graded" and not any(
                    html.glob("*.html")):
                row.detail = f"no feedback (see {log})"


def write_csv(rows: list[Submission], path: Path) -> None:
    def number(x: float | None) -> str:
        return "" if x is None else f"{x:g}"

    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in sorted(rows, key=lambda r: (r.student, r.assignment)):
            score = number(row.score) if row.status == "graded" else ""
            writer.writerow([row.student, row.assignment, score, number(row.max_score),
                             row.status, row.detail])


def autograde(submissions: Path, out: Path, timeout: int = 60, wall_timeout: float = 600.0) -> int:
    """Grade every submission; write ``out/grades.csv`` and feedback. Exit code 0 iff all graded."""
    assignments = list_assignments()
    rows = discover(submissions, assignments)
    prepare_out(out, submissions)
    make_course_root(out)
    generate_assignments(out, sorted({r.assignment for r in rows if r.assignment in assignments})
                         or list(assignments), out / "logs")
    maxima = max_scores(out)
    for row in sorted(rows, key=lambda r: (r.student, r.assignment)):
        row.max_score = maxima.get(row.assignment)
        if row.status is None:
            grade_one(row, assignments[row.assignment], out, timeout, wall_timeout)
            if row.ran:
                read_score(row, out)
        print(summary(row), flush=True)
    make_feedback(rows, out)
    write_csv(rows, out / "grades.csv")
    nb_bad = sum(row.status != "graded" for row in rows)
    print(f"{len(rows) - nb_bad}/{len(rows)} graded; grades in {out / 'grades.csv'}")
    return 1 if nb_bad else 0
