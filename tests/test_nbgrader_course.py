"""The instructor's term in nbgrader's world, end to end, with nbgrader's own commands in a
temporary course: generate, release, fetch, submit, collect, ``python -m grader autograde
--nbgrader-course``, then the gradebook (nbgrader's API and ``nbgrader export``) and
``release_feedback`` + ``fetch_feedback``.

One student goes through the exchange (nbgrader submits as the account running the tests);
two more arrive as ``nbgrader zip_collect`` leaves them (a folder with ``timestamp.txt``): one
late with a bug, one that patches torch (``tampered``: no automatic score, flagged).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sample_batch import (
    ASSIGNMENT,
    HANG_GUARD_S,
    LIMITS,
    NO_SANDBOX,
    REPO,
    SUBMISSIONS,
    read_rows,
    run_cli,
)

NBGRADER = [sys.executable, "-m", "nbgrader"]
DUE = "2026-06-01 12:00:00 UTC"


# nbgrader runs its environment's `alembic` by name: the course's venv on PATH, as `make` has it
ENV = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])


def nbgrader(where: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*NBGRADER, *args], cwd=where, text=True, capture_output=True,
                          timeout=HANG_GUARD_S, env=ENV)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def config(exchange: Path) -> str:
    return (f"c = get_config()\nc.CourseDirectory.course_id = 'causal101'\n"
            f"c.Exchange.root = {str(exchange)!r}\n"
            "c.ExecutePreprocessor.kernel_name = 'python3'\n")


def sample(student: str) -> Path:
    return SUBMISSIONS / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """A course after collect and `python -m grader autograde --nbgrader-course`."""
    tmp = tmp_path_factory.mktemp("term")
    course, home, exchange = tmp / "course", tmp / "student", tmp / "exchange"
    for folder in (course / "source", home, exchange):
        folder.mkdir(parents=True)
    exchange.chmod(0o777)
    (course / "nbgrader_config.py").write_text(config(exchange))
    (home / "nbgrader_config.py").write_text(config(exchange))
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    nbgrader(course, "db", "assignment", "add", ASSIGNMENT, f"--duedate={DUE}")
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    nbgrader(course, "release_assignment", ASSIGNMENT)
    # the student's side: fetch, do the work (the sample `perfect`), submit
    nbgrader(home, "fetch_assignment", ASSIGNMENT)
    shutil.copy(sample("perfect"), home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    nbgrader(home, "submit", ASSIGNMENT)
    nbgrader(course, "collect", ASSIGNMENT)
    (me,) = [p.name for p in (course / "submitted").iterdir()]
    # as zip_collect leaves an LMS download: a notebook and its timestamp
    for student, name, when in (("bob", "buggy_generate", "2026-06-02 08:30:00 UTC"),
                                ("mallory", "patches_torch", "2026-05-30 10:00:00 UTC")):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(sample(name), folder / f"{ASSIGNMENT}.ipynb")
        (folder / "timestamp.txt").write_text(when)
    out = tmp / "out"
    extra = [] if NO_SANDBOX is None else ["--no-sandbox"]
    proc = run_cli("autograde", "--nbgrader-course", str(course), "--out", str(out),
                   "--jobs", "2", *LIMITS, *extra)
    return {"course": course, "home": home, "out": out, "me": me, "proc": proc}


def test_grades_csv_keeps_times_and_marks_late(term) -> None:
    assert term["proc"].returncode == 1, term["proc"].stderr  # mallory is not graded
    rows = {r[0]: r[1:] for r in read_rows(term["out"] / "grades.csv",
                                           ["student", "score", "status", "submitted_at", "late"])}
    me = rows[term["me"]]
    assert me[:2] == ("45", "graded") and me[3] == "late"  # submitted today, due in June
    assert rows["bob"] == ("44", "graded", "2026-06-02 08:30:00 UTC", "late")
    assert rows["mallory"] == ("", "tampered", "2026-05-30 10:00:00 UTC", "on time")
    assert "written to its gradebook" in term["proc"].stdout


def test_scores_are_in_the_gradebook(term) -> None:
    from grader.nbgrader_course import gradebook_of

    db = f"sqlite:///{term['course'] / 'gradebook.db'}"
    with gradebook_of(db) as gradebook:
        mine = gradebook.find_submission(ASSIGNMENT, term["me"])
        assert (mine.score, mine.max_score, mine.needs_manual_grade) == (45, 45, False)
        bob = gradebook.find_submission(ASSIGNMENT, "bob")
        assert bob.score == 44 and str(bob.timestamp) == "2026-06-02 08:30:00"
        failed = [g.name for g in bob.notebooks[0].grades if g.score < g.max_score]
        assert failed == ["test_generate_uses_position_t"]
        mallory = gradebook.find_submission(ASSIGNMENT, "mallory")
        assert mallory.needs_manual_grade and mallory.notebooks[0].flagged
        assert all(g.auto_score is None for g in mallory.notebooks[0].grades)


def test_nbgrader_export_lists_the_scores(term, tmp_path) -> None:
    target = tmp_path / "grades.csv"
    nbgrader(term["course"], "export", "--to", str(target))
    with open(target, newline="") as f:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}
    assert scores[term["me"]] == 45 and scores["bob"] == 44


def test_release_feedback_and_fetch_feedback_deliver_the_page(term) -> None:
    course, home, me = term["course"], term["home"], term["me"]
    feedback = course / "feedback" / me / ASSIGNMENT
    assert {p.name for p in feedback.iterdir()} == {
        f"{ASSIGNMENT}.html", "timestamp.txt", "submission_secret.txt"}
    # bob's notebook came as zip_collect leaves it, without the exchange's secret: his page
    # stays in OUT/feedback for the LMS, where release_feedback would have stopped at it
    assert not (course / "feedback" / "bob").exists()
    assert "bob/02_causal_conv1d: not submitted through nbgrader's exchange" in term["proc"].stdout
    nbgrader(course, "release_feedback", ASSIGNMENT)
    nbgrader(home, "fetch_feedback", ASSIGNMENT)
    (page,) = (home / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html")
    ours = term["out"] / "feedback" / me / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert page.read_bytes() == ours.read_bytes()


def test_the_formgrader_copy_carries_nbgrader_metadata(term) -> None:
    import json

    path = term["course"] / "autograded" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = json.loads(path.read_text())
    ids = {c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
           if "nbgrader" in c["metadata"]}
    assert {"causal_conv1d", "test_generate_uses_position_t"} <= ids
    assert (path.parent / "timestamp.txt").is_file()


def test_nbgrader_renders_the_scores_of_our_copy(term, tmp_path) -> None:
    """nbgrader's own rendering (GetGrades, as in the formgrader and generate_feedback) reads
    the gradebook through the nbgrader metadata of the grader's copy: a copy of the course, so
    that nothing here changes what the other tests see."""
    import html
    import re

    course = tmp_path / "course"
    shutil.copytree(term["course"], course)
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--student", "bob", "--force")
    page = (course / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert re.search(r"Score:\s*44\.0\s*/\s*45\.0", text), "no total score on nbgrader's page"


def test_plain_nbgrader_autograde_gives_a_noisy_right_answer_full_marks(term) -> None:
    """nbgrader gives 0 to a test cell that wrote to stderr; the tests' probes send what the
    student's code writes there while they run it to stdout, so a right answer that prints
    warnings and progress gets every point from plain `nbgrader autograde` too (37/45 before)."""
    from grader.nbgrader_course import gradebook_of

    course = term["course"]
    folder = course / "submitted" / "nora" / ASSIGNMENT
    folder.mkdir(parents=True)
    shutil.copy(sample("noisy_but_right"), folder / f"{ASSIGNMENT}.ipynb")
    nbgrader(course, "autograde", ASSIGNMENT, "--student", "nora", "--force")
    with gradebook_of(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        nora = gradebook.find_submission(ASSIGNMENT, "nora")
        assert (nora.score, nora.max_score) == (45, 45), [
            (g.name, g.score) for g in nora.notebooks[0].grades if g.score < g.max_score]


def test_usage_errors_name_the_problem(tmp_path) -> None:
    both = run_cli("autograde", str(tmp_path), "--nbgrader-course", str(tmp_path),
                   "--out", str(tmp_path / "o"))
    assert both.returncode == 2 and "not both" in both.stderr
    empty = run_cli("autograde", "--nbgrader-course", str(tmp_path), "--out",
                    str(tmp_path / "o"))
    assert empty.returncode == 2 and "collect the submissions first" in empty.stderr
    (tmp_path / "submitted").mkdir()
    nodb = run_cli("autograde", "--nbgrader-course", str(tmp_path), "--out",
                   str(tmp_path / "o"))
    assert nodb.returncode == 2 and "generate_assignment" in nodb.stderr
    due = run_cli("autograde", str(tmp_path / "submitted"), "--due", "next tuesday-ish",
                  "--out", str(tmp_path / "o"))
    assert due.returncode == 2 and "is not a date" in due.stderr
