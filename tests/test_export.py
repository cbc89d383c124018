"""``python -m grader export``: the exact bytes of each layout on a small hand-made batch, no cell
a spreadsheet would run as a formula, missing and ungraded submissions empty (never 0), the
union of several outputs, and every refusal (conflicting rows, bad outputs, an --out that is not
a previous export). No grading here: the grades.csv files are written by hand."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from grader.__main__ import main
from grader.autograde import COLUMNS, FORMULA_STARTS, MARKER
from grader.course import GraderError
from grader.export import export

REPO = Path(__file__).resolve().parent.parent

# (student, assignment, score, max_score, status, detail) as grades.csv holds them: the grader
# writes '@cmd with its quote; =HYPERLINK(A1), -1 and +x are as a hand edit would leave them
BATCH = [
    ("'+x", "02_b", "1", "20", "graded", ""),
    ("-1", "01_a", "5", "10", "graded", ""),
    ("=HYPERLINK(A1)", "01_a", "3", "10", "graded", ""),
    ("'@cmd", "02_b", "", "20", "timeout", "stopped at the CPU limit"),
    ("alice", "01_a", "10", "10", "graded", ""),
    ("alice", "02_b", "7.5", "20", "graded", "a pasted test cell"),
    ("bob", "01_a", "0", "10", "graded", ""),  # and nothing handed in for 02_b
    ("carol", "01_a", "", "10", "tampered", "replaced torch.allclose"),
    ("carol", "02_b", "20", "20", "graded", ""),
    ("dave", "99_x", "", "", "unknown_assignment", "known assignments: 01_a, 02_b"),
    ("lonely", "", "", "", "bad_layout", "no assignment folder"),
]
ROSTER = "alice\nbob\ncarol\nerin\n=HYPERLINK(A1)\n"  # erin: on the roster only

CANVAS = """\
"Student","ID","SIS User ID","SIS Login ID","Section","01_a","02_b"
"Points Possible","","","","","10","20"
"'+x","","","'+x","","","1"
"'-1","","","'-1","","5",""
"'=HYPERLINK(A1)","","","'=HYPERLINK(A1)","","3",""
"'@cmd","","","'@cmd","","",""
"alice","","","alice","","10","7.5"
"bob","","","bob","","0",""
"carol","","","carol","","","20"
"dave","","","dave","","",""
"erin","","","erin","","",""
"""
MOODLE = """\
"username","01_a","02_b"
"'+x","","1"
"'-1","5",""
"'=HYPERLINK(A1)","3",""
"'@cmd","",""
"alice","10","7.5"
"bob","0",""
"carol","","20"
"dave","",""
"erin","",""
"""
WIDE = """\
"student","01_a","02_b","total"
"Points Possible","10","20","30"
"'+x","","1",""
"'-1","5","",""
"'=HYPERLINK(A1)","3","",""
"'@cmd","","",""
"alice","10","7.5","17.5"
"bob","0","",""
"carol","","20",""
"dave","","",""
"erin","","",""
"""
EXPECTED = {"canvas": CANVAS, "moodle": MOODLE, "wide": WIDE}


def grader_output(folder: Path, rows) -> Path:
    """A folder as `autograde --out` leaves it, as far as export reads it: grades.csv with the
    grader's columns, each row's first six fields given (a shorter row is a cut-short line), the
    columns after ``detail`` (if any) empty."""
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by the test\n", encoding="utf-8")
    with open(folder / "grades.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(COLUMNS)
        writer.writerows(row if len(row) < 6 else [*row, *[""] * (len(COLUMNS) - len(row))]
                         for row in rows)
    return folder


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["export", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def batch(tmp_path) -> tuple[Path, Path]:
    roster = tmp_path / "roster.txt"
    roster.write_text(ROSTER, encoding="utf-8")
    return grader_output(tmp_path / "out", BATCH), roster


@pytest.mark.parametrize("fmt", ["canvas", "moodle", "wide"])
def test_each_format_has_the_exact_bytes(batch, capsys, fmt) -> None:
    out, roster = batch
    code, text, err = run(capsys, out, "--format", fmt, "--roster", roster)
    assert (code, text) == (0, EXPECTED[fmt]), err
    # what was left out or is odd, said on stderr
    assert "lonely/- (bad_layout) left out: not a student's submission" in err
    assert "dave/99_x left out: not an assignment of the course" in err
    assert ("4 student(s) with grades are not on the roster, kept: '+x, '-1, '@cmd, dave"
            in err)
    assert "9 students x 2 assignments" in err and "2 not graded" in err
    assert ("Moodle: set each grade item's maximum grade: 01_a 10, 02_b 20" in err) == (
        fmt == "moodle")


@pytest.mark.parametrize("fmt", ["canvas", "moodle", "wide"])
def test_no_cell_is_a_formula_and_scores_are_numbers(batch, capsys, fmt) -> None:
    out, roster = batch
    code, text, _ = run(capsys, out, "--format", fmt, "--roster", roster)
    rows = list(csv.reader(io.StringIO(text)))
    assert code == 0 and len({len(row) for row in rows}) == 1
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), (row, cell)
    first_score = 5 if fmt == "canvas" else 1
    for row in rows[1:]:
        for cell in row[first_score:]:
            assert cell == "" or float(cell) >= 0, (row, cell)
    by_student = {row[0]: row[first_score:] for row in rows}
    assert by_student["bob"][:2] == ["0", ""]  # a zero stays a zero; nothing handed in: empty
    assert by_student["carol"][:2] == ["", "20"]  # tampered: empty, never 0
    assert by_student["'@cmd"][:2] == ["", ""]  # timeout: empty


def test_two_outputs_are_joined_and_identical_rows_accepted(tmp_path, capsys) -> None:
    first = grader_output(tmp_path / "a", [("alice", "01_a", "10", "10", "graded", ""),
                                           ("bob", "01_a", "4", "10", "graded", "")])
    second = grader_output(tmp_path / "b", [("alice", "01_a", "10", "10", "graded", ""),
                                            ("alice", "02_b", "12.25", "20", "graded", ""),
                                            ("carol", "02_b", "", "20", "crashed", "")])
    code, text, err = run(capsys, first, second, "--format", "wide")
    assert code == 0, err
    assert text == ('"student","01_a","02_b","total"\n'
                    '"Points Possible","10","20","30"\n'
                    '"alice","10","12.25","22.25"\n'
                    '"bob","4","",""\n'
                    '"carol","","",""\n')


def test_a_conflicting_duplicate_is_refused_and_nothing_written(tmp_path, capsys) -> None:
    first = grader_output(tmp_path / "a", [("alice", "01_a", "10", "10", "graded", "")])
    second = grader_output(tmp_path / "b", [("alice", "01_a", "", "10", "timeout", "")])
    target = tmp_path / "canvas.csv"
    code, text, err = run(capsys, first, second, "--format", "canvas", "--out", target)
    assert (code, text) == (2, "")
    assert "alice/01_a differs between" in err and "graded 10/10" in err and "timeout" in err
    assert not target.exists()


def test_stdout_and_out_hold_the_same_bytes(batch, tmp_path, capsys) -> None:
    out, roster = batch
    _, printed, _ = run(capsys, out, "--format", "moodle", "--roster", roster)
    target = tmp_path / "moodle.csv"
    code, text, err = run(capsys, out, "--format", "moodle", "--roster", roster, "--out", target)
    assert (code, text) == (0, "")
    assert target.read_bytes() == printed.encode("utf-8") == MOODLE.encode("utf-8")
    assert f"to {target} (moodle)" in err
    assert not list(tmp_path.glob("*.tmp"))
    # a previous export of the same format is overwritten
    code, _, err = run(capsys, out, "--format", "moodle", "--out", target)
    assert code == 0, err
    assert "erin" not in target.read_text(encoding="utf-8")  # no roster this time


def test_the_real_command_line(batch) -> None:
    out, roster = batch
    proc = subprocess.run([sys.executable, "-m", "grader", "export", str(out), "--format",
                           "canvas", "--roster", str(roster)],
                          cwd=REPO, capture_output=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (0, CANVAS.encode("utf-8")), proc.stderr
    proc = subprocess.run([sys.executable, "-m", "grader", "export", str(out), "--format",
                           "excel"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "invalid choice: 'excel'" in proc.stderr


def test_outputs_that_are_not_grader_outputs_are_refused(tmp_path, capsys) -> None:
    code, text, err = run(capsys, tmp_path / "nowhere", "--format", "wide")
    assert (code, text) == (2, "") and "nowhere does not exist" in err
    (tmp_path / "plain").mkdir()
    code, text, err = run(capsys, tmp_path / "plain", "--format", "wide")
    assert (code, text) == (2, "") and "is not the output of `python -m grader autograde`" in err
    with pytest.raises(GraderError, match="unknown format 'excel'"):
        export([tmp_path / "plain"], "excel")


def test_out_is_never_a_folder_an_output_or_another_file(batch, tmp_path, capsys) -> None:
    out, roster = batch
    grades = (out / "grades.csv").read_bytes()
    for target, why in [(tmp_path, "is a folder"),
                        (out / "grades.csv", "is inside the grader output"),
                        (out / "canvas.csv", "is inside the grader output"),
                        (roster, "is an input of this command"),
                        (tmp_path / "missing" / "x.csv", "does not exist")]:
        code, text, err = run(capsys, out, "--format", "canvas", "--roster", roster,
                              "--out", target)
        assert (code, text) == (2, ""), target
        assert why in err, err
    assert (out / "grades.csv").read_bytes() == grades
    notes = tmp_path / "notes.csv"
    notes.write_text("student,mark\nalice,A\n", encoding="utf-8")
    for fmt in ("canvas", "moodle", "wide"):
        code, _, err = run(capsys, out, "--format", fmt, "--out", notes)
        assert code == 2 and f"refusing to overwrite {notes}" in err
    assert notes.read_text(encoding="utf-8") == "student,mark\nalice,A\n"
    wide = tmp_path / "wide.csv"  # an export of another format is not overwritten either
    assert run(capsys, out, "--format", "wide", "--out", wide)[0] == 0
    assert run(capsys, out, "--format", "canvas", "--out", wide)[0] == 2


def test_malformed_rows_are_named_and_left_out(tmp_path, capsys) -> None:
    out = grader_output(tmp_path / "out", [
        ("alice", "01_a", "-3", "10", "graded", ""),
        ("bob", "01_a", "nan", "10", "graded", ""),
        ("carol", "01_a", "", "10", "graded", ""),
        ("dave", "01_a", "-0", "10", "graded", ""),
        ("erin", "01_a", "4", "10"),  # cut short
    ])
    code, text, err = run(capsys, out, "--format", "wide")
    assert code == 1
    assert text == ('"student","01_a","total"\n"Points Possible","10","10"\n'
                    '"dave","0","0"\n')
    assert "alice/01_a: score -3 is not a non-negative number" in err
    assert "bob/01_a: score nan is not a non-negative number" in err
    assert "carol/01_a: graded without a score" in err
    assert "grades.csv, line 6: malformed row left out" in err
    assert "4 malformed row(s) left out" in err


def test_two_max_scores_for_one_assignment_are_refused(tmp_path, capsys) -> None:
    first = grader_output(tmp_path / "a", [("alice", "01_a", "10", "10", "graded", "")])
    second = grader_output(tmp_path / "b", [("bob", "01_a", "10", "12", "graded", "")])
    code, text, err = run(capsys, first, second, "--format", "canvas")
    assert (code, text) == (2, "") and "01_a has two max scores in the outputs, 10 and 12" in err


def test_rosters_as_lines_or_csv(tmp_path, capsys) -> None:
    out = grader_output(tmp_path / "out", [("alice", "01_a", "10", "10", "graded", "")])
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeffName, ID \nAlice A.,alice\nZoe Z., zoe \n,\n", encoding="utf-8")
    code, text, err = run(capsys, out, "--format", "moodle", "--roster", roster)
    assert (code, text) == (0, '"username","01_a"\n"alice","10"\n"zoe",""\n'), err
    assert "not on the roster" not in err
    roster.write_text("name,email\nAlice,alice@example.org\n", encoding="utf-8")
    code, text, err = run(capsys, out, "--format", "moodle", "--roster", roster)
    assert (code, text) == (2, "") and "a CSV roster needs a header with a column named" in err
    # a student folder named like Canvas's row of maximum scores is left out, never the class
    impostor = grader_output(tmp_path / "out2", [("points possible", "01_a", "10", "10",
                                                  "graded", "")])
    roster.write_text("alice\nPoints Possible\n", encoding="utf-8")
    code, text, err = run(capsys, out, impostor, "--format", "canvas", "--roster", roster)
    assert code == 0 and text.count("Points Possible") == 1, text
    assert "'Points Possible' left out" in err and "'points possible' left out" in err


def test_id_column_and_titles(tmp_path, capsys) -> None:
    out = grader_output(tmp_path / "out", [("alice", "01_a", "10", "10", "graded", ""),
                                           ("alice", "02_b", "3", "20", "graded", "")])
    titles = tmp_path / "titles.csv"
    titles.write_text("assignment,title\n01_a,Masked input (4521)\n09_z,Later\n",
                      encoding="utf-8")
    code, text, err = run(capsys, out, "--format", "canvas", "--id-column", "sis_user_id",
                          "--titles", titles)
    assert code == 0, err
    assert text == ('"Student","ID","SIS User ID","SIS Login ID","Section",'
                    '"Masked input (4521)","02_b"\n'
                    '"Points Possible","","","","","10","20"\n'
                    '"alice","","alice","","","10","3"\n')
    assert "no grades for 09_z: not used" in err
    code, text, _ = run(capsys, out, "--format", "moodle", "--id-column", "email")
    assert text.startswith('"email","01_a","02_b"\n')
    for fmt, column, why in [("moodle", "sis_login_id", "--id-column for moodle must be one of"),
                             ("wide", "username", "--id-column applies to the formats")]:
        code, text, err = run(capsys, out, "--format", fmt, "--id-column", column)
        assert (code, text) == (2, "") and why in err
