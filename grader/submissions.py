"""Finding submissions and the checks made before nbgrader runs.

Layout: ``SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb``. Each (student, assignment) pair
becomes one row of ``grades.csv``. Problems that nbgrader would handle badly are caught here, in
the grading process, before any kernel starts:

- ``invalid_json``: the file is not JSON (nbgrader would skip it silently);
- ``not_a_notebook``: JSON, but not a Jupyter notebook;
- ``missing_metadata``: the answer cells' nbgrader metadata is gone (nbgrader's
  ``add_missing_cells`` crashes with a KeyError on such a notebook);
- ``unknown_assignment``, ``missing_notebook``, ``bad_layout``: the folders are not as expected.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from grader.course import SOLUTIONS_DIR, GraderError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
LAYOUT = "<student>/<assignment>/<notebook>.ipynb"


@dataclass
class Submission:
    """One (student, assignment) pair and, once known, its verdict."""

    student: str
    assignment: str
    folder: Path | None = None
    status: str | None = None  # None: not decided yet (to be graded)
    detail: str = ""
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    ran: bool = False  # nbgrader ran the notebook to its end (there is an autograded copy)


def discover(submissions: Path, assignments: dict[str, list[str]]) -> list[Submission]:
    """All (student, assignment) pairs under ``submissions``; layout errors become rows."""
    if not submissions.exists():
        raise GraderError(f"submissions folder {submissions} does not exist")
    if not submissions.is_dir():
        raise GraderError(f"{submissions} is not a folder: expected a folder laid out as {LAYOUT}")
    rows: list[Submission] = []
    for student_dir in sorted(p for p in submissions.iterdir() if not p.name.startswith(".")):
        if not student_dir.is_dir():
            continue
        student = student_dir.name
        if student in assignments:
            raise GraderError(
                f"{student_dir} is named like an assignment: pass the folder that holds one "
                f"folder per student ({LAYOUT})")
        if not ID_PATTERN.match(student):
            rows.append(Submission(student, "", status="bad_layout",
                                   detail="student folder names may only use letters, digits, "
                                          "'_', '.', '@' and '-'"))
            continue
        folders = sorted(p for p in student_dir.iterdir() if p.is_dir() and p.name[0] != ".")
        if not folders:
            rows.append(Submission(student, "", status="bad_layout",
                                   detail=f"no assignment folder: expected {LAYOUT}"))
        for folder in folders:
            rows.append(_assignment_row(student, folder, assignments))
    if not rows:
        first = next(iter(assignments))
        loose = sorted(p.name for p in submissions.glob("*.ipynb"))
        hint = f" (it holds notebooks directly: {', '.join(loose[:3])})" if loose else ""
        raise GraderError(f"no submissions found in {submissions}{hint}: expected {LAYOUT}, "
                          f"e.g. alice/{first}/{assignments[first][0]}.ipynb")
    if all(row.status == "bad_layout" for row in rows):
        raise GraderError(f"nothing in {submissions} is laid out as {LAYOUT}")
    return rows


def _assignment_row(student: str, folder: Path, assignments: dict[str, list[str]]) -> Submission:
    row = Submission(student, folder.name, folder=folder)
    if folder.name not in assignments:
        row.status = "unknown_assignment"
        row.detail = f"known assignments: {', '.join(assignments)}"
        return row
    expected = assignments[folder.name]
    present = [name for name in expected if (folder / f"{name}.ipynb").is_file()]
    if not present:
        found = sorted(p.name for p in folder.glob("*.ipynb"))
        row.status = "missing_notebook"
        row.detail = (f"expected {', '.join(n + '.ipynb' for n in expected)}; found "
                      f"{', '.join(found) if found else 'no notebook'}")
        return row
    for name in present:
        verdict = check_notebook(folder / f"{name}.ipynb", folder.name, name)
        if verdict is not None:
            row.status, row.detail = verdict
            return row
    return row


@functools.lru_cache(maxsize=None)
def source_cells(assignment: str, notebook: str) -> tuple[list[str], set[str], set[str]]:
    """(ids of all nbgrader cells in order, ids of answer cells, ids of grade cells)."""
    import nbformat  # imported when needed: it takes seconds (so do usage errors not)

    nb = nbformat.read(SOLUTIONS_DIR / assignment / f"{notebook}.ipynb", as_version=4)
    order: list[str] = []
    answers: set[str] = set()
    grades: set[str] = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("grade_id"):
            order.append(meta["grade_id"])
            if meta.get("solution"):
                answers.add(meta["grade_id"])
            if meta.get("grade"):
                grades.add(meta["grade_id"])
    return order, answers, grades


def check_notebook(path: Path, assignment: str, notebook: str) -> tuple[str, str] | None:
    """(status, detail) if the submitted notebook cannot be graded, None if it can."""
    import nbformat

    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        return "invalid_json", f"{name} is not UTF-8 text"
    except json.JSONDecodeError as error:
        return "invalid_json", f"{name} is not valid JSON ({error.msg}, line {error.lineno})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "not_a_notebook", f"{name} is JSON but not a Jupyter notebook (no list of cells)"
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - any reader failure means the same to the student
        return "not_a_notebook", f"{name} cannot be read as a notebook ({type(error).__name__})"
    present = set()
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
            return "not_a_notebook", f"{name} has a cell that is not a notebook cell"
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and (meta.get("solution") or meta.get("grade")):
            present.add(meta.get("grade_id"))
    order, answers, grades = source_cells(assignment, notebook)
    if not present or _add_missing_cells_would_fail(order, grades, present):
        lost = sorted((answers | grades) - present)
        shown = ", ".join(lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
        return "missing_metadata", (f"{name}: the nbgrader metadata of cells {shown} is gone "
                                    "(saved by a tool that strips it?): the answers cannot be "
                                    "matched to the tests")
    return None


def _add_missing_cells_would_fail(order: list[str], grades: set[str], present: set[str]) -> bool:
    """Mirror nbgrader 0.9.6 ``OverwriteCells.add_missing_grade_cells``: a missing grade cell is
    put back after the nbgrader cell that precedes it in the source notebook, which must itself
    be an answer or grade cell of the submission (or have been put back already); otherwise
    nbgrader raises KeyError."""
    seen = set(present)
    for index, grade_id in enumerate(order):
        if grade_id in grades and grade_id not in seen:
            if index > 0 and order[index - 1] not in seen:
                return True
            seen.add(grade_id)
    return False
