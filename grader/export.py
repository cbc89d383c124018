"""``python -m grader export OUT [OUT2 ...] --format canvas|moodle|wide [--out FILE]``: write the
grades of one or more grader outputs as the CSV file a learning management system imports.

One row per student, one column per assignment (sorted by name), a cell per (student, assignment):
the score when the submission was ``graded``, otherwise **empty**: a student who handed nothing
in, and a submission that could not be graded (``tampered``, ``timeout``, ``crashed``, ...), are
missing, never a zero. Students are the union of the outputs' rows, plus ``--roster`` (one id per
line, or a CSV with a ``student`` or ``id`` column), whose students without a row get an empty
row. Written to standard output, or atomically to ``--out FILE``. What was left out and why goes
to standard error.

The layouts follow what each system documents and its importer reads:

``canvas``: Canvas's "Import grades in the Gradebook" CSV, the layout of its own Gradebook export
(https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807,
https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades)::

    Student,ID,SIS User ID,SIS Login ID,Section,<assignment>,...
    Points Possible,,,,,<max score>,...
    <student>,,,<student>,,<score or empty>,...

  Canvas's importer (``app/models/gradebook_importer.rb`` in
  https://github.com/instructure/canvas-lms) requires a header whose first cells are ``Student``
  and ``ID`` and whose student columns end with ``Section``; it finds each student by the numeric
  Canvas ``ID``, then ``SIS User ID``, then ``SIS Login ID``, then the name in ``Student``; a row
  whose first cell holds ``Points Possible`` gives the points of assignments it creates. Our
  student id is the student's folder name, which nbgrader calls the student id and which is
  usually the LMS login: it goes in ``SIS Login ID`` (``--id-column sis_user_id`` puts it in ``SIS
  User ID`` instead) and, for the person reading the import preview, in ``Student``; ``ID`` (a
  number only Canvas knows) and ``Section`` stay empty. An assignment column is matched to the
  Canvas assignment of that exact title, or titled ``Title (canvas id)``, else Canvas creates the
  assignment: ``--titles FILE`` (a CSV ``assignment,title``) names the columns.

``moodle``: Moodle's "Import grades from CSV" (https://docs.moodle.org/en/Grade_import; importer:
``grade/import/csv/classes/load_data.php`` in https://github.com/moodle/moodle)::

    username,<assignment>,...
    <student>,<score or empty>,...

  On the import page, *Identify user by* maps the ``username`` column ("Map from") to the user
  field ``username`` ("Map to"), and each other column to its grade item (or a new one).
  ``--id-column idnumber`` or ``email`` names the column for the user's ID number or email
  address instead. Moodle has no row for maximum scores (an extra row would be read as a user,
  and a user it cannot find aborts the whole import): set each grade item's maximum grade in
  Moodle; the command prints them on standard error.

``wide``: for a spreadsheet or another tool::

    student,<assignment>,...,total
    Points Possible,<max score>,...,<sum of the max scores>
    <student>,<score or empty>,...,<total or empty>

  ``total`` is the sum of the student's scores when every assignment has one, and **empty when
  any is missing**: a missing score is not a zero, and a total that counted it as one would look
  like a real grade. A student whose id holds ``Points Possible`` is left out, with a note.

Both LMSs read an empty cell as "no grade" (Canvas: ``''`` or ``-``; Moodle: ``''`` or ``-`` sets
the grade to none), never as 0; an import can therefore clear a grade typed into the LMS by hand
for that student and assignment, which Canvas shows on its confirmation page before applying.

Every field is quoted (both importers parse standard quoted CSV), text goes through
``grader.autograde.csv_field`` (control characters escaped, a leading ``'`` before ``= + - @`` so
that a spreadsheet never runs a student or assignment name as a formula; such an id then matches
no LMS login: fix it by hand), and a score is a plain non-negative decimal (no exponent, no sign),
so that no cell starts with those characters. A score that is negative, not finite, or missing
on a ``graded`` row is a malformed row.

Errors (exit code 2, nothing written): an OUT that does not exist or is not a grader output, the
same (student, assignment) in two outputs with different rows, two max scores for one
assignment, an unreadable roster or titles file, an ``--out`` that is a folder, lies inside an
OUT, is the roster or titles file, or is an existing file whose header is not that of an export
of the same format (a previous export is overwritten; anything else is refused). Malformed rows
are left out and named on standard error as ``merge`` does; the exit code is then 1, else 0.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader.autograde import COLUMNS, FORMULA_STARTS, csv_field, printable, write_atomic
from grader.course import GraderError
from grader.merge import read_grades
from grader.submissions import Submission

FORMATS = ("canvas", "moodle", "wide")
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"
# --id-column: which column of the format holds our student id; the first is the default
ID_COLUMNS = {
    "canvas": {"sis_login_id": "SIS Login ID", "sis_user_id": "SIS User ID"},
    "moodle": {"username": "username", "idnumber": "idnumber", "email": "email"},
}
ROSTER_ID_HEADERS = ("student", "id")
NAMES_SHOWN = 20  # students named in one warning, then a count


@dataclass
class Gradebook:
    """The students, the assignments and the cells of an export, before any layout."""

    students: list[str]  # sorted, each through csv_field
    assignments: list[str]  # sorted, each through csv_field
    max_scores: dict[str, float | None]  # assignment -> its max score, when known
    scores: dict[tuple[str, str], float] = field(default_factory=dict)  # graded cells only
    not_graded: int = 0  # cells with a row that is not graded (tampered, timeout...)


def export(outputs: list[Path], fmt: str, out: Path | None = None, roster: Path | None = None,
           id_column: str | None = None, titles: Path | None = None) -> int:
    """Write the export of ``outputs`` in format ``fmt``; exit code 0, or 1 when malformed rows
    were left out. A usage error raises GraderError before anything is written."""
    if fmt not in FORMATS:
        raise GraderError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    id_header = id_header_of(fmt, id_column)
    if out is not None:
        check_destination(out, fmt, id_header, outputs, [p for p in (roster, titles) if p])
    notes: list[str] = []
    malformed: list[str] = []
    rows = read_outputs(outputs, malformed, notes)
    book = gradebook(rows, read_roster(roster) if roster else None, notes)
    column_titles = read_titles(titles, book.assignments, notes) if titles else {}
    header_titles = [column_titles.get(a, a) for a in book.assignments]
    if fmt == "canvas":
        text = canvas_text(book, header_titles, id_header)
    elif fmt == "moodle":
        text = moodle_text(book, header_titles, id_header)
        if book.assignments:
            maxima = ", ".join(f"{title} {number(book.max_scores[a])}"
                               for a, title in zip(book.assignments, header_titles, strict=True)
                               if book.max_scores[a] is not None)
            notes.append(f"Moodle: set each grade item's maximum grade: {maxima}")
    else:
        text = wide_text(book, header_titles)
    for message in malformed + notes:
        print(printable(message), file=sys.stderr)
    cells = len(book.students) * len(book.assignments)
    where = "standard output" if out is None else str(out)
    print(printable(
        f"exported {len(book.students)} students x {len(book.assignments)} assignments to "
        f"{where} ({fmt}): {len(book.scores)} scores, {cells - len(book.scores)} empty "
        f"({book.not_graded} not graded, {cells - len(book.scores) - book.not_graded} not "
        f"handed in)" + (f"; {len(malformed)} malformed row(s) left out" if malformed else "")),
        file=sys.stderr)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(out, text)
    return 1 if malformed else 0


def id_header_of(fmt: str, id_column: str | None) -> str:
    """The header of the column that holds the student id (canvas, moodle); "student" (wide)."""
    if fmt not in ID_COLUMNS:
        if id_column is not None:
            raise GraderError(f"--id-column applies to the formats {', '.join(ID_COLUMNS)}, "
                              f"not {fmt}")
        return "student"
    choices = ID_COLUMNS[fmt]
    if id_column is None:
        return next(iter(choices.values()))
    if id_column not in choices:
        raise GraderError(f"--id-column for {fmt} must be one of {', '.join(choices)}, "
                          f"got {id_column!r}")
    return choices[id_column]


# --------------------------------------------------------------------------------- reading
def read_outputs(outputs: list[Path], malformed: list[str], notes: list[str]) -> list[Submission]:
    """The rows of every output, each (student, assignment) once; refuses conflicting rows."""
    if not outputs:
        raise GraderError("give the output folders to export")
    found: dict[tuple[str, str], tuple[Submission, Path]] = {}
    for folder in outputs:
        if not folder.exists():
            raise GraderError(f"{folder} does not exist")
        if not folder.is_dir():
            raise GraderError(f"{folder} is not a folder (give the --out folder of "
                              "`python -m grader autograde`)")
        for row in read_grades(folder, malformed):
            if not row.student or not row.assignment:
                notes.append(f"{folder / 'grades.csv'}: row {row.student or '-'}/"
                             f"{row.assignment or '-'} ({row.status}) left out: not a student's "
                             f"submission" + (f" ({row.detail})" if row.detail else ""))
                continue
            problem = number_problem(row)
            if problem:
                malformed.append(f"{folder / 'grades.csv'}: malformed row left out "
                                 f"({row.student}/{row.assignment}: {problem})")
                continue
            key = (csv_field(row.student), csv_field(row.assignment))
            if key in found and same_row(found[key][0], row):
                continue
            if key in found:
                first, where = found[key]
                raise GraderError(
                    f"{key[0]}/{key[1]} differs between {where} ({verdict(first)}) and {folder} "
                    f"({verdict(row)}): export one of them (were the same submissions graded "
                    "twice?)")
            found[key] = (row, folder)
    return [row for row, _ in found.values()]


def number_problem(row: Submission) -> str:
    """Why the numbers of ``row`` cannot be exported, or ""."""
    for name, value in (("score", row.score), ("max_score", row.max_score)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"{name} {value:g} is not a non-negative number"
    if row.status == "graded" and row.score is None:
        return "graded without a score"
    return ""


def same_row(a: Submission, b: Submission) -> bool:
    """Whether two rows hold the same grades.csv fields (its columns are Submission's fields)."""
    return all(getattr(a, column, None) == getattr(b, column, None) for column in COLUMNS)


def verdict(row: Submission) -> str:
    if row.status == "graded":
        return f"graded {number(row.score)}/{number(row.max_score)}"
    return row.status or "no status"


def read_roster(path: Path) -> list[str]:
    """Student ids of a roster: one per line, or a CSV whose header has a ``student`` or ``id``
    column (case and surrounding spaces ignored). Blank entries are skipped."""
    lines = read_csv_rows(path, "roster")
    if not lines:
        return []
    header = [cell.strip().lower() for cell in lines[0]]
    column = next((header.index(name) for name in ROSTER_ID_HEADERS if name in header), None)
    if column is None:
        if any(len(line) > 1 for line in lines):
            raise GraderError(f"roster {path}: a CSV roster needs a header with a column named "
                              f"{' or '.join(ROSTER_ID_HEADERS)}")
        return [line[0].strip() for line in lines if line and line[0].strip()]
    return [line[column].strip() for line in lines[1:]
            if len(line) > column and line[column].strip()]


def read_titles(path: Path, assignments: list[str], notes: list[str]) -> dict[str, str]:
    """``--titles``: {assignment: the column's title in the LMS}, from a CSV ``assignment,title``
    (with that header)."""
    lines = read_csv_rows(path, "titles")
    if not lines or [cell.strip().lower() for cell in lines[0][:2]] != ["assignment", "title"]:
        raise GraderError(f"titles file {path}: expected a CSV with the header assignment,title")
    titles: dict[str, str] = {}
    for line_number, line in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in line):
            continue
        if len(line) < 2 or not line[0].strip() or not line[1].strip():
            raise GraderError(f"titles file {path}, line {line_number}: expected assignment,title")
        assignment, title = csv_field(line[0].strip()), csv_field(line[1].strip())
        if assignment in titles:
            raise GraderError(f"titles file {path}: {assignment} is named twice")
        titles[assignment] = title
    unknown = sorted(set(titles) - set(assignments))
    if unknown:
        notes.append(f"titles file {path}: no grades for {', '.join(unknown)}: not used")
    used = [titles.get(a, a) for a in assignments]
    twice = sorted({title for title in used if used.count(title) > 1})
    if twice:
        raise GraderError(f"titles file {path}: two columns would be titled {twice[0]}")
    return titles


def read_csv_rows(path: Path, what: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise GraderError(f"cannot read the {what} file {path}: {err}") from None


# ------------------------------------------------------------------------------- gradebook
def gradebook(rows: list[Submission], roster: list[str] | None, notes: list[str]) -> Gradebook:
    """The cells of the export: students from ``rows`` and ``roster``, one column per assignment
    of the course found in ``rows``."""
    students = {csv_field(row.student) for row in rows}
    if roster is not None:
        listed = {csv_field(student) for student in roster}
        extra = sorted(students - listed)
        if extra:
            shown = ", ".join(extra[:NAMES_SHOWN])
            more = f" and {len(extra) - NAMES_SHOWN} more" if len(extra) > NAMES_SHOWN else ""
            notes.append(f"warning: {len(extra)} student(s) with grades are not on the roster, "
                         f"kept: {shown}{more}")
        students |= listed
    # Canvas reads a row whose first cell holds "Points Possible" as the assignments' points: a
    # student folder named so (its name is the student's choice) is left out, never the class
    impostors = sorted(s for s in students if POINTS_POSSIBLE.lower() in s.lower())
    for student in impostors:
        notes.append(f"student {student!r} left out: an id holding {POINTS_POSSIBLE!r} would be "
                     "read as the row of maximum scores; rename the folder")
    students -= set(impostors)
    graded_rows = []
    for row in rows:
        if csv_field(row.student) in impostors:
            continue
        if row.status == "unknown_assignment":
            notes.append(f"{row.student}/{row.assignment} left out: not an assignment of the "
                         "course (unknown_assignment)")
        else:
            graded_rows.append(row)
    assignments = sorted({csv_field(row.assignment) for row in graded_rows})
    max_scores: dict[str, float | None] = dict.fromkeys(assignments)
    book = Gradebook(sorted(students), assignments, max_scores)
    for row in graded_rows:
        assignment = csv_field(row.assignment)
        if row.max_score is not None:
            known = max_scores[assignment]
            if known is not None and known != row.max_score:
                raise GraderError(f"{assignment} has two max scores in the outputs, "
                                  f"{number(known)} and {number(row.max_score)}: were they "
                                  "graded against different versions of it?")
            max_scores[assignment] = row.max_score
        key = (csv_field(row.student), assignment)
        if row.status == "graded":
            book.scores[key] = row.score
        else:
            book.not_graded += 1
    return book


def number(value: float | None) -> str:
    """A score as a plain decimal: no exponent, no sign, at most 6 decimals ("" for None)."""
    if value is None:
        return ""
    if value == 0:
        value = 0.0  # never "-0"
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    assert not text.startswith(FORMULA_STARTS), text  # scores are checked non-negative
    return text


def cells(book: Gradebook, student: str) -> list[str]:
    return [number(book.scores.get((student, a))) for a in book.assignments]


def csv_lines(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(rows)
    return buffer.getvalue()


# --------------------------------------------------------------------------------- layouts
def canvas_text(book: Gradebook, titles: list[str], id_header: str) -> str:
    blank = [""] * (len(CANVAS_STUDENT_COLUMNS) - 1)
    rows = [[*CANVAS_STUDENT_COLUMNS, *titles],
            [POINTS_POSSIBLE, *blank, *(number(book.max_scores[a]) for a in book.assignments)]]
    for student in book.students:
        info = {name: "" for name in CANVAS_STUDENT_COLUMNS}
        info["Student"] = info[id_header] = student
        rows.append([*info.values(), *cells(book, student)])
    return csv_lines(rows)


def moodle_text(book: Gradebook, titles: list[str], id_header: str) -> str:
    return csv_lines([[id_header, *titles],
                      *([student, *cells(book, student)] for student in book.students)])


def wide_text(book: Gradebook, titles: list[str]) -> str:
    maxima = [book.max_scores[a] for a in book.assignments]
    total_max = None if None in maxima else sum(maxima)
    rows = [["student", *titles, "total"],
            [POINTS_POSSIBLE, *(number(m) for m in maxima), number(total_max)]]
    for student in book.students:
        scores = [book.scores.get((student, a)) for a in book.assignments]
        total = None if None in scores or not scores else sum(scores)
        rows.append([student, *(number(s) for s in scores), number(total)])
    return csv_lines(rows)


# ------------------------------------------------------------------------------ --out FILE
def check_destination(out: Path, fmt: str, id_header: str, outputs: list[Path],
                      inputs: list[Path]) -> None:
    """Refuse an ``--out`` that is a folder, lies in a grader output, is an input file, or is an
    existing file that is not an export of the same format (those are overwritten)."""
    target = out.resolve()
    if out.is_dir():
        raise GraderError(f"--out {out} is a folder: give a file name, e.g. {fmt}.csv")
    for folder in outputs:
        if folder.resolve() in target.parents:
            raise GraderError(f"--out {out} is inside the grader output {folder}, which the "
                              f"grader owns: write it elsewhere, e.g. {fmt}.csv")
    for path in inputs:
        if path.resolve() == target:
            raise GraderError(f"--out {out} is an input of this command")
    if not target.parent.is_dir():
        raise GraderError(f"--out {out}: the folder {out.parent} does not exist")
    if out.exists() or out.is_symlink():
        if not out.is_file() or out.is_symlink() or not is_export(out, fmt, id_header):
            raise GraderError(f"refusing to overwrite {out}: it is not a previous {fmt} export "
                              "(delete it or choose another file)")


def is_export(path: Path, fmt: str, id_header: str) -> bool:
    """Whether the header of ``path`` is that of an export in ``fmt``."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    if fmt == "canvas":
        return tuple(header[:len(CANVAS_STUDENT_COLUMNS)]) == CANVAS_STUDENT_COLUMNS
    if fmt == "wide":
        return len(header) >= 2 and header[0] == "student" and header[-1] == "total"
    return bool(header) and header[0] == id_header
