"""Finding submissions, reading them safely, and the checks made before any code runs.

Layout: ``SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb``. Each (student, assignment) pair
becomes one row of ``grades.csv``. Every notebook is read here, once, into memory, before anything
is graded: a symbolic link, a FIFO or anything else that is not a regular file is refused (never
followed), and what a later submission's code might write into the folder cannot change what is
graded. Problems found here become the row's status, and the notebook never runs:

- ``not_a_regular_file``: the notebook is a symbolic link, a folder, a FIFO, ...;
- ``too_large``: the file is larger than the limit (default 20 MB);
- ``invalid_json``: the file is not UTF-8 JSON;
- ``not_a_notebook``: JSON, but not a Jupyter notebook;
- ``empty_notebook``: a notebook without cells;
- ``unknown_assignment``, ``missing_notebook``, ``bad_layout``: the folders are not as expected.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from grader.course import GraderError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
LAYOUT = "<student>/<assignment>/<notebook>.ipynb"
MAX_NOTEBOOK_BYTES = 20 * 2**20


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
    notebooks: dict[str, bytes] = field(default_factory=dict)  # name -> the file's bytes
    notes: list[str] = field(default_factory=list)
    submitted_at: str = ""  # from nbgrader's timestamp.txt, UTC ("" if none)
    late: str = ""  # "late", "on time", or "" (no timestamp or no due date)

    @property
    def key(self) -> str:
        return f"{self.student}__{self.assignment or '-'}"


def shard_of(student: str, count: int) -> int:
    """The shard (1..count) a student belongs to: a stable hash of the name, so a student stays
    in the same shard when others are added or removed."""
    return int(hashlib.sha256(student.encode("utf-8")).hexdigest(), 16) % count + 1


def discover(submissions: Path, assignments: dict[str, list[str]],
             max_bytes: int = MAX_NOTEBOOK_BYTES) -> list[Submission]:
    """All (student, assignment) pairs under ``submissions``; layout errors become rows."""
    if not submissions.exists():
        raise GraderError(f"submissions folder {submissions} does not exist")
    if not submissions.is_dir():
        raise GraderError(f"{submissions} is not a folder: expected a folder laid out as {LAYOUT}")
    rows: list[Submission] = []
    for student_dir in sorted(p for p in submissions.iterdir() if not p.name.startswith(".")):
        if student_dir.is_symlink() or not student_dir.is_dir():
            if student_dir.is_symlink() and ID_PATTERN.match(student_dir.name):
                rows.append(Submission(student_dir.name, "", status="bad_layout",
                                       detail="the student folder is a symbolic link"))
            continue
        student = student_dir.name
        if student in assignments and _holds_notebooks(student_dir):
            rows.append(Submission(student, "", status="bad_layout", detail=(
                f"{student} is named like an assignment and holds its notebooks directly: "
                f"expected {LAYOUT}")))
            continue
        if not ID_PATTERN.match(student):
            rows.append(Submission(student, "", status="bad_layout",
                                   detail="student folder names may only use letters, digits, "
                                          "'_', '.', '@' and '-'"))
            continue
        folders = sorted(p for p in student_dir.iterdir() if p.name[0] != "."
                         and (p.is_dir() or p.is_symlink()) and not p.name.endswith(".ipynb"))
        if not folders:
            rows.append(Submission(student, "", status="bad_layout",
                                   detail=f"no assignment folder: expected {LAYOUT}"))
        unknown = [f for f in folders if f.name not in assignments]
        for folder in folders:
            if folder.name in assignments or folder == unknown[0]:
                rows.append(_assignment_row(student, folder, assignments, max_bytes))
        if len(unknown) > 1:  # one row for them all: a folder of 100 junk folders is one row
            names = [f.name for f in unknown[1:]]
            first = next(r for r in rows if (r.student, r.assignment) == (student, unknown[0].name))
            first.detail += (f"; {len(names)} more folder(s) that are not assignments, not "
                             f"graded: {', '.join(names[:5])}" + (" ..." if len(names) > 5 else ""))
    if not rows:
        first = next(iter(assignments))
        loose = sorted(p.name for p in submissions.glob("*.ipynb"))
        hint = f" (it holds notebooks directly: {', '.join(loose[:3])})" if loose else ""
        raise GraderError(f"no submissions found in {submissions}{hint}: expected {LAYOUT}, "
                          f"e.g. alice/{first}/{assignments[first][0]}.ipynb")
    if all(row.status == "bad_layout" for row in rows):
        named = [row.student for row in rows if row.student in assignments]
        if named:
            raise GraderError(
                f"{submissions / named[0]} is named like an assignment and holds its notebooks "
                f"directly: pass the folder that holds one folder per student ({LAYOUT})")
        raise GraderError(f"nothing in {submissions} is laid out as {LAYOUT}")
    return rows


def _holds_notebooks(folder: Path) -> bool:
    """A folder holding notebooks and no assignment folder: an assignment folder, not a
    student's (a student may be named like an assignment: ``02_causal_conv1d/02_causal_conv1d/``
    is unambiguous)."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return any(p.name.endswith(".ipynb") for p in entries) and not any(
        p.is_dir() and not p.is_symlink() and not p.name.endswith(".ipynb") for p in entries)


def _assignment_row(student: str, folder: Path, assignments: dict[str, list[str]],
                    max_bytes: int) -> Submission:
    row = Submission(student, folder.name, folder=folder)
    if folder.name not in assignments:
        row.status = "unknown_assignment"
        row.detail = f"known assignments: {', '.join(assignments)}"
        return row
    if folder.is_symlink():
        row.status, row.detail = "not_a_regular_file", "the assignment folder is a symbolic link"
        return row
    expected = assignments[folder.name]
    found = sorted(p.name for p in folder.iterdir() if p.name.endswith(".ipynb"))
    present = [name for name in expected if f"{name}.ipynb" in found]
    if not present:
        row.status = "missing_notebook"
        row.detail = (f"expected {', '.join(n + '.ipynb' for n in expected)}; found "
                      f"{', '.join(found) if found else 'no notebook'}")
        return row
    extra = [name for name in found if name[:-6] not in expected]
    if extra:
        row.notes.append(f"ignored {', '.join(extra[:3])}" + (" ..." if len(extra) > 3 else "")
                         + f": only {', '.join(n + '.ipynb' for n in expected)} is graded")
    for name in present:
        verdict = read_notebook(folder / f"{name}.ipynb", max_bytes)
        if isinstance(verdict, tuple):
            row.status, row.detail = verdict
            return row
        row.notebooks[name] = verdict
    return row


def read_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> bytes | tuple[str, str]:
    """The bytes of a regular file (never following a link), or (status, detail)."""
    name = path.name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "not_a_regular_file", f"{name} is a symbolic link: hand in the file itself"
        return "not_a_regular_file", f"{name} cannot be opened ({error.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not_a_regular_file", f"{name} is not a regular file"
        if info.st_size > max_bytes:
            return "too_large", (f"{name} is {info.st_size / 2**20:.1f} MB, the limit is "
                                 f"{max_bytes / 2**20:g} MB: clear its outputs (Edit > Clear "
                                 "Outputs of All Cells), save and hand it in again")
        chunks, total = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                return "too_large", f"{name} grew past {max_bytes / 2**20:g} MB while read"
        return b"".join(chunks)
    finally:
        os.close(fd)


def parse_notebook(data: bytes, name: str) -> dict | tuple[str, str]:
    """The notebook as a dict, or (status, detail) if it cannot be graded."""
    import nbformat

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_json", f"{name} is not UTF-8 text"
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        where = f", line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        message = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
        return "invalid_json", f"{name} is not valid JSON ({message}{where})"
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return "not_a_notebook", f"{name} is JSON but not a Jupyter notebook (no list of cells)"
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - any reader failure means the same to the student
        return "not_a_notebook", f"{name} cannot be read as a notebook ({type(error).__name__})"
    cells = []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata", {}), dict):
            return "not_a_notebook", f"{name} has a cell that is not a notebook cell"
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if not isinstance(source, str):
            return "not_a_notebook", f"{name} has a cell whose source is not text"
        meta = cell.get("metadata", {}).get("nbgrader")
        cells.append({"cell_type": cell.get("cell_type"), "source": source,
                      "metadata": {"nbgrader": meta} if isinstance(meta, dict) else {}})
    if not cells:
        return "empty_notebook", f"{name} has no cells: was the right file saved?"
    return {"cells": cells}
