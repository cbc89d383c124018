"""nbgrader's course layout in and out, for ``python -m grader autograde --nbgrader-course COURSE``.

An instructor who runs nbgrader keeps a course folder: ``nbgrader_config.py``, ``source/``,
``release/``, ``gradebook.db``, and ``submitted/<student>/<assignment>/``, which ``nbgrader
collect`` (from the exchange) and ``nbgrader zip_collect`` (from an LMS download) fill, each
submission with its ``timestamp.txt`` (and, from the exchange, ``submission_secret.txt``). This
module lets the sandboxed grader take that folder's submissions and give back what nbgrader's
own ``autograde`` would, without running a student's code outside the sandbox:

- **scores in the gradebook**, per test cell, written through nbgrader's own API
  (``nbgrader.api.Gradebook``, as its ``SaveAutoGrades`` does): the formgrader shows them,
  manual grading of written answers works on top (a manual score is never touched), and
  ``nbgrader export`` lists them. A submission that could not be graded (``tampered``,
  ``timeout``, ...) gets no automatic score: its notebooks are flagged and need a manual grade;
- ``COURSE/autograded/<student>/<assignment>/<notebook>.ipynb``: the instructor's copy of what
  ran, its cells carrying the nbgrader metadata of the course's notebook, with ``timestamp.txt``;
- ``COURSE/feedback/<student>/<assignment>/<notebook>.html`` with the submission's
  ``timestamp.txt`` and ``submission_secret.txt``, where ``nbgrader release_feedback`` and the
  students' ``fetch_feedback`` find them.

Paths and the database come from the course's ``nbgrader_config.py``, read as nbgrader reads it
(``CourseDirectory``). The due date of an assignment is the gradebook's (``nbgrader db
assignment add NAME --duedate=...``) unless ``--due`` gives one; a submission whose
``timestamp.txt`` is later than its due date (plus any extension granted in the gradebook) is
marked late in ``grades.csv``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from grader.course import SOLUTIONS_DIR, GraderError
from grader.submissions import Submission

TIMESTAMP = "timestamp.txt"
SECRET = "submission_secret.txt"
MAX_TIMESTAMP_BYTES = 200  # a line of text; the file is the student's


@dataclass
class Course:
    """An nbgrader course folder, with the paths its configuration gives."""

    root: Path
    db_url: str
    directories: dict[str, str]  # submitted, autograded, feedback -> folder names
    directory_structure: str  # "{nbgrader_step}/{student_id}/{assignment_id}" by default

    def folder(self, step: str, student: str = "", assignment: str = "") -> Path:
        relative = self.directory_structure.format(
            nbgrader_step=self.directories[step], student_id=student, assignment_id=assignment)
        return self.root / relative

    @property
    def submitted(self) -> Path:
        return self.root / self.directories["submitted"]

    def deadlines(self) -> tuple[dict[str, datetime | None],
                                 dict[tuple[str, str], timedelta]]:
        """From the gradebook: {assignment: due date (naive UTC) or None} for every assignment,
        and {(student, assignment): extension} for those granted (``grant_extension``)."""
        due, granted = {}, {}
        with gradebook_of(self.db_url) as gradebook:
            for assignment in gradebook.assignments:
                due[assignment.name] = assignment.duedate
                for submission in assignment.submissions:
                    if submission.extension:
                        granted[(submission.student_id, assignment.name)] = submission.extension
        return due, granted


def gradebook_of(db_url: str):
    """nbgrader's ``Gradebook`` on ``db_url``. It runs the ``alembic`` command of nbgrader's
    environment by name, which is not on PATH when the course's Python is called by its path
    (``.venv/bin/python -m grader``): that folder is put on PATH first."""
    from nbgrader.api import Gradebook

    here = os.path.dirname(sys.executable)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
    return Gradebook(db_url)


def open_course(root: Path) -> Course:
    """The course at ``root``, checked: a folder with ``submitted/`` and a gradebook."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    root = root.resolve()
    if not root.is_dir():
        raise GraderError(f"--nbgrader-course {root}: no such folder")
    config = Config()
    if (root / "nbgrader_config.py").is_file():
        try:
            config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        except ConfigFileNotFound:
            pass
        except Exception as error:  # noqa: BLE001 - the instructor's own file: say what broke
            raise GraderError(f"{root / 'nbgrader_config.py'} could not be read: "
                              f"{type(error).__name__}: {error}") from None
    coursedir = CourseDirectory(config=config)
    if "root" not in config.get("CourseDirectory", {}):
        coursedir.root = str(root)  # nbgrader's default is the folder it runs in: the course
    course = Course(Path(coursedir.root), coursedir.db_url,
                    {"submitted": coursedir.submitted_directory,
                     "autograded": coursedir.autograded_directory,
                     "feedback": coursedir.feedback_directory},
                    coursedir.directory_structure)
    if not course.submitted.is_dir():
        raise GraderError(f"{course.submitted} does not exist: collect the submissions first "
                          "(`nbgrader collect ASSIGNMENT` or `nbgrader zip_collect ASSIGNMENT`, "
                          "run in the course folder)")
    if course.db_url.startswith("sqlite:///") and not Path(
            course.db_url.removeprefix("sqlite:///")).is_file():
        raise GraderError(f"the course has no gradebook ({course.db_url}): run `nbgrader "
                          "generate_assignment ASSIGNMENT` in the course folder for each "
                          "assignment first")
    return course


def parse_due(text: str) -> datetime:
    """A due date as nbgrader reads one ("2026-12-01 17:00:00 Europe/Paris", ISO 8601, ...),
    as naive UTC; a clear error otherwise."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text)
    except (ValueError, OverflowError, TypeError):
        raise GraderError(f"--due {text!r} is not a date (e.g. '2026-12-01 17:00:00 "
                          "UTC')") from None


def read_timestamp(folder: Path | None) -> datetime | None:
    """The submission time nbgrader wrote in ``folder/timestamp.txt`` (naive UTC), or None if
    there is none or it is not a date. The file is the student's: read a line at most, never
    through a link."""
    from nbgrader.utils import parse_utc

    if folder is None:
        return None
    path = folder / TIMESTAMP
    try:
        if path.is_symlink() or not path.is_file():
            return None
        with open(path, "rb") as f:
            text = f.read(MAX_TIMESTAMP_BYTES).decode("utf-8", "replace").strip()
        return parse_utc(text)
    except (OSError, ValueError, OverflowError, TypeError):
        return None


def mark_times(rows: list[Submission], due: dict[str, datetime | None],
               extensions: dict[tuple[str, str], timedelta] | None = None) -> None:
    """Fill each row's ``submitted_at`` and ``late`` from its ``timestamp.txt`` and due date."""
    extensions = extensions or {}
    for row in rows:
        when = read_timestamp(row.folder)
        if when is None:
            continue
        row.submitted_at = when.strftime("%Y-%m-%d %H:%M:%S UTC")
        deadline = due.get(row.assignment)
        if deadline is not None:
            deadline += extensions.get((row.student, row.assignment), timedelta())
            row.late = "late" if when > deadline else "on time"


# ---------------------------------------------------------------------------- write back
def write_back(course: Course, out: Path, rows: list[Submission]) -> tuple[int, list[str]]:
    """Scores into the gradebook, autograded notebooks and feedback into the course. Returns
    how many submissions were written, and a line for each that was not, or only in part."""
    from nbgrader.api import MissingEntry

    problems: list[str] = []
    written = 0
    with gradebook_of(course.db_url) as gradebook:
        known = {assignment.name for assignment in gradebook.assignments}
        for row in rows:
            if not row.student or not row.assignment or row.status is None:
                continue
            if row.assignment not in known:
                problems.append(f"{row.student}/{row.assignment}: the assignment is not in the "
                                "gradebook (run `nbgrader generate_assignment "
                                f"{row.assignment}` in the course folder)")
                continue
            record = _record(out, row)
            try:
                _save_scores(gradebook, row, record)
            except MissingEntry as error:
                gradebook.db.rollback()
                problems.append(f"{row.student}/{row.assignment}: the gradebook does not match "
                                f"this repository's solutions/ ({error}): was the course's "
                                "source/ generated from them?")
                continue
            problems += _copy_pages(course, out, row, record)
            written += 1
    return written, problems


def _record(out: Path, row: Submission) -> dict:
    path = out / "results" / f"{row.key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"notebooks": []}


def _save_scores(gradebook, row: Submission, record: dict) -> None:
    """Per test cell, the points the judge gave, where the score stands (``graded``); no
    automatic score, and a flag, where it does not. Manual scores are never touched."""
    timestamp = read_timestamp(row.folder)
    gradebook.update_or_create_student(row.student)
    submission = gradebook.update_or_create_submission(row.assignment, row.student,
                                                       timestamp=timestamp)
    results = {nb.get("name"): nb for nb in record.get("notebooks", []) if isinstance(nb, dict)}
    for notebook in submission.notebooks:
        tests = {t.get("grade_id"): t for t in results.get(notebook.name, {}).get("tests", [])
                 if isinstance(t, dict)}
        for grade in notebook.grades:
            test = tests.get(grade.name)
            if test is None:
                continue  # not a test cell of ours (a written answer): for manual grading
            grade.auto_score = float(test.get("points", 0.0)) if row.status == "graded" else None
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        notebook.flagged = row.status != "graded"
    gradebook.db.commit()


def _copy_pages(course: Course, out: Path, row: Submission, record: dict) -> list[str]:
    """The autograded notebooks (with nbgrader metadata) and feedback pages, with the
    submission's timestamp and secret, where nbgrader's commands look for them. A submission
    that did not come through nbgrader's exchange (``zip_collect``, copied by hand) has no
    ``submission_secret.txt``: its page is not put in ``feedback/``, where ``nbgrader
    release_feedback`` would stop at it for the whole class; the note returned says so."""
    names = [nb.get("name") for nb in record.get("notebooks", []) if isinstance(nb, dict)]
    autograded = course.folder("autograded", row.student, row.assignment)
    feedback = course.folder("feedback", row.student, row.assignment)
    secret = row.folder / SECRET if row.folder else None
    exchanged = secret is not None and secret.is_file() and not secret.is_symlink()
    for name in names:
        source = out / "autograded" / row.student / row.assignment / f"{name}.ipynb"
        if source.is_file():
            autograded.mkdir(parents=True, exist_ok=True)
            nb = json.loads(source.read_text(encoding="utf-8"))
            _add_nbgrader_metadata(nb, row.assignment, name)
            (autograded / f"{name}.ipynb").write_text(json.dumps(nb, indent=1),
                                                      encoding="utf-8")
        page = out / "feedback" / row.student / row.assignment / f"{name}.html"
        if page.is_file() and exchanged:
            feedback.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, feedback / f"{name}.html")
    for folder in (autograded, feedback):
        if not folder.is_dir():
            continue
        for kept in (TIMESTAMP, SECRET):
            origin = row.folder / kept if row.folder else None
            if origin is not None and origin.is_file() and not origin.is_symlink():
                shutil.copyfile(origin, folder / kept)
    if names and not exchanged:
        return [f"{row.student}/{row.assignment}: not submitted through nbgrader's exchange (no "
                f"{SECRET}): its feedback is in {out / 'feedback'} only, for your LMS"]
    return []


def _add_nbgrader_metadata(nb: dict, assignment: str, name: str) -> None:
    """Give each cell of the grader's copy that stands for a cell of the course's notebook
    (same grade id) that cell's nbgrader metadata, which the formgrader reads."""
    path = SOLUTIONS_DIR / assignment / f"{name}.ipynb"
    try:
        source = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    by_id = {}
    for cell in source.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and meta.get("grade_id"):
            by_id[meta["grade_id"]] = {k: v for k, v in meta.items() if k != "checksum"}
    for cell in nb.get("cells", []):
        label = cell.get("metadata", {}).get("grader", {}).get("label")
        if label in by_id and cell.get("cell_type") == "code":
            cell["metadata"]["nbgrader"] = dict(by_id[label])
