"""End to end: `python -m grader` on the sample submissions in tests/submissions/.

One batch run (module fixture, ~1 minute) is checked against tests/submissions/expected_grades.csv
(written by hand); then regrading, feedback without hidden tests, the release check, the solution
passing its own tests and the repository left untouched.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS = REPO / "tests" / "submissions"
ASSIGNMENT = "02_causal_conv1d"
SOLUTION = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASED = REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
# short limits keep the suite fast: the infinite loop costs one per-cell timeout
LIMITS = ["--timeout", "6", "--wall-timeout", "120"]
WATCHED = ["grader", "solutions", "exercises", "tests/submissions"]
NBGRADER_STATE = {"gradebook.db", "submitted", "autograded", "feedback", ".nbgrader.log"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=900)


def snapshot() -> dict[str, tuple[int, int]]:
    """(size, mtime) of the files the grader could touch, nbgrader state anywhere in the repo."""
    files = {}
    for top in WATCHED:
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                stat = path.stat()
                files[path.relative_to(REPO).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = [d for d in dirnames if d not in {".git", ".venv", "node_modules"}]
        for name in NBGRADER_STATE & set(dirnames + filenames):
            files[f"nbgrader state: {Path(dirpath, name).relative_to(REPO)}"] = (0, 0)
    return files


def read_rows(path: Path, columns: list[str]) -> list[tuple[str, ...]]:
    with open(path, encoding="utf-8", newline="") as f:
        return [tuple(row[c] for c in columns) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> SimpleNamespace:
    before = snapshot()
    out = tmp_path_factory.mktemp("grading") / "out"
    start = time.perf_counter()
    proc = run_cli("autograde", str(SUBMISSIONS), "--out", str(out), *LIMITS)
    seconds = time.perf_counter() - start
    print(f"\nbatch of {len(list(SUBMISSIONS.iterdir())) - 1} submissions graded in "
          f"{seconds:.1f} s\n{proc.stdout}")
    return SimpleNamespace(out=out, proc=proc, seconds=seconds, before=before)


def test_grades_match_expected(batch) -> None:
    assert (batch.out / "grades.csv").exists(), batch.proc.stderr
    columns = ["student", "assignment", "score", "max_score", "status"]
    got = read_rows(batch.out / "grades.csv", columns)
    expected = read_rows(SUBMISSIONS / "expected_grades.csv", columns)
    assert got == expected


def test_whole_batch_ran_and_exit_code_says_not_all_graded(batch) -> None:
    assert batch.proc.returncode == 1, batch.proc.stderr
    lines = batch.proc.stdout.splitlines()
    for student in sorted(p.name for p in SUBMISSIONS.iterdir() if p.is_dir()):
        assert any(line.startswith(f"{student}/") for line in lines), student
    with open(batch.out / "grades.csv", encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["student", "assignment", "score", "max_score", "status", "detail"]


def test_rows_not_graded_never_look_like_zero(batch) -> None:
    with open(batch.out / "grades.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] != "graded":
                assert row["score"] == "" and row["detail"], row


def _hidden_lines() -> list[str]:
    """Lines of the hidden tests that neither the released exercise nor an answer shows."""
    answers = [c.source for c in nbformat.read(SOLUTION, as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("solution")]
    visible = "\n".join([c.source for c in nbformat.read(RELEASED, as_version=4).cells] + answers)
    lines = []
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS",
                                cell.source, re.DOTALL):
            lines += [line.strip() for line in block.splitlines()
                      if len(line.strip()) > 20 and line.strip() not in visible]
    return lines


def test_feedback_exists_and_hides_hidden_tests(batch) -> None:
    hidden = _hidden_lines()
    assert len(hidden) > 50
    graded = [r[0] for r in read_rows(batch.out / "grades.csv", ["student", "status"])
              if r[1] == "graded"]
    assert graded
    for student in graded:
        page = batch.out / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert page.exists(), student
        raw = page.read_text(encoding="utf-8")
        text = html.unescape(re.sub(r"<[^>]+>", "", raw))
        assert "HIDDEN TESTS" not in text and "hidden_" not in text, student
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}: hidden test lines in feedback: {leaked[:3]}"
    failing = (batch.out / "feedback" / "right_padding_leak" / ASSIGNMENT
               / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "the model sees the future" in html.unescape(re.sub(r"<[^>]+>", "", failing))


def test_blank_exercise_fails_every_test_cell(batch) -> None:
    nb = nbformat.read(batch.out / "autograded" / "blank" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                       as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(tests) == 10
    for cell in tests:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors and "NotImplementedError" in errors[0].evalue, cell.metadata.nbgrader


def test_regrading_gives_the_same_grades(batch, tmp_path) -> None:
    subset = tmp_path / "subset"
    for student in ("perfect", "invalid_json", "stripped_metadata"):
        shutil.copytree(SUBMISSIONS / student, subset / student)
    out = tmp_path / "out"
    first = run_cli("autograde", str(subset), "--out", str(out), *LIMITS)
    first_csv = (out / "grades.csv").read_bytes()
    second = run_cli("autograde", str(subset), "--out", str(out), *LIMITS)  # same folder again
    assert first.returncode == second.returncode == 1, first.stderr + second.stderr
    assert (out / "grades.csv").read_bytes() == first_csv
    full = (batch.out / "grades.csv").read_text(encoding="utf-8").splitlines()
    header, rows = full[0], [r for r in full[1:] if r.split(",")[0] in
                             ("perfect", "invalid_json", "stripped_metadata")]
    assert first_csv.decode("utf-8").splitlines() == [header, *rows]


def test_repository_untouched(batch) -> None:
    after = snapshot()
    changed = sorted(k for k in set(batch.before) | set(after)
                     if batch.before.get(k) != after.get(k))
    assert not changed, changed


def test_usage_errors_are_clear(tmp_path) -> None:
    cases = {
        "does not exist": [str(tmp_path / "missing")],
        "no submissions found": [str(tmp_path)],
        "named like an assignment": [str(SUBMISSIONS / "perfect")],
    }
    for message, args in cases.items():
        proc = run_cli("autograde", *args, "--out", str(tmp_path / "out"))
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    proc = run_cli("autograde", str(SUBMISSIONS), "--out", str(mine))
    assert proc.returncode == 2 and "refusing to write" in proc.stderr
    assert (mine / "notes.txt").read_text() == "keep me"


def test_release_is_in_sync() -> None:
    proc = run_cli("release", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sample_submissions_are_up_to_date(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("make_samples",
                                                  REPO / "tests" / "make_sample_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_all(tmp_path)
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    kept = {p.relative_to(SUBMISSIONS).as_posix() for p in SUBMISSIONS.rglob("*")
            if p.is_file()} - {"expected_grades.csv"}
    assert made == kept, "run `python tests/make_sample_submissions.py`"
    for name in made:
        assert (tmp_path / name).read_bytes() == (SUBMISSIONS / name).read_bytes(), (
            f"tests/submissions/{name} is stale: run `python tests/make_sample_submissions.py`")


def test_solution_passes_its_own_tests(monkeypatch) -> None:
    from nbgrader.validator import Validator
    from traitlets.config import Config

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = Config()
    config.Execute.kernel_name = "python3"  # the course kernel need not be installed here
    config.Execute.timeout = 120
    assert Validator(config=config).validate(str(SOLUTION)) == {}
