"""The grader's command line on small sets of the sample submissions: a submission that hangs
costs only its own row, a killed batch keeps the rows it finished and leaves nothing running,
usage errors are clear, and what is generated from solutions/ is in sync."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sample_batch import (
    ASSIGNMENT,
    NO_SANDBOX,
    REPO,
    SAMPLES,
    SOLUTION,
    SUBMISSIONS,
    read_rows,
    run_cli,
)


def test_a_hung_submission_costs_only_its_own_row(tmp_path) -> None:
    """A submission that outlives --wall-timeout is stopped; the others are graded. (The honest
    two take under 10 s each on an idle 2-core machine: 90 s holds at a load of 8 and more; the
    CPU limit, 300 s, stays out of the way of the spinning one.)"""
    subset = tmp_path / "subset"
    for student in ("perfect", "swallows_interrupt", "blank"):
        shutil.copytree(SUBMISSIONS / student / ASSIGNMENT, subset / student / ASSIGNMENT)
    extra = [] if NO_SANDBOX is None else ["--no-sandbox"]
    out = tmp_path / "out"
    proc = run_cli("autograde", str(subset), "--out", str(out), "--jobs", "2", "--timeout", "300",
                   "--wall-timeout", "90", *extra)
    rows = read_rows(out / "grades.csv", ["student", "score", "status", "detail"])
    assert rows == [("blank", "0", "graded", ""), ("perfect", "45", "graded", ""),
                    ("swallows_interrupt", "", "timeout",
                     "stopped at the wall-clock limit of one submission")], proc.stdout


def descendants(pid: int) -> dict[int, float]:
    """{pid: start time} of every process below ``pid`` (zombies too)."""
    import psutil

    found = {}
    try:
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                found[child.pid] = child.create_time()
    except psutil.NoSuchProcess:
        pass
    return found


def still_running(processes: dict[int, float]) -> list[str]:
    import psutil

    left = []
    for pid, started in processes.items():
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(process.cmdline()))
    return left


def test_a_killed_batch_keeps_the_rows_it_finished(tmp_path) -> None:
    """grades.csv is rewritten as each row ends: killing the grader keeps them, and everything
    the killed grader started stops too (only its own processes are looked at: another batch
    may be grading on the same machine)."""
    subset = tmp_path / "subset"
    for student in ("blank", "infinite_loop", "perfect"):
        shutil.copytree(SUBMISSIONS / student / ASSIGNMENT, subset / student / ASSIGNMENT)
    extra = [] if NO_SANDBOX is None else ["--no-sandbox"]
    out = tmp_path / "out"
    grader = subprocess.Popen([sys.executable, "-m", "grader", "autograde", str(subset), "--out",
                               str(out), "--jobs", "1", "--timeout", "60", *extra], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started: dict[int, float] = {}
    deadline = time.monotonic() + 300  # a wait, not a timing claim
    while time.monotonic() < deadline and not (
            (out / "grades.csv").exists() and "blank" in (out / "grades.csv").read_text()):
        started.update(descendants(grader.pid))
        time.sleep(0.2)
    kernel_running, deadline = False, time.monotonic() + 300
    while not kernel_running and time.monotonic() < deadline:  # infinite_loop's worker
        started.update(descendants(grader.pid))
        kernel_running = any("grader.kernel" in " ".join(cmd) for cmd in _cmdlines(started))
        time.sleep(0.2)
    time.sleep(1)
    started.update(descendants(grader.pid))
    grader.kill()
    grader.wait()
    assert read_rows(out / "grades.csv", ["student", "status"]) == [("blank", "graded")]
    assert kernel_running, "infinite_loop's worker never started"
    left = started
    for _ in range(100):  # up to 20 s for the kernel to take them all down
        left = {pid: t for pid, t in left.items() if still_running({pid: t})}
        if not left:
            break
        time.sleep(0.2)
    assert not still_running(left), "still running after the grader was killed"


def _cmdlines(processes: dict[int, float]) -> list[list[str]]:
    import psutil

    found = []
    for pid in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            found.append(psutil.Process(pid).cmdline())
    return found


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
    proc = run_cli("autograde", str(SUBMISSIONS), "--out", str(tmp_path / "o"), "--shard", "3/2")
    assert proc.returncode == 2 and "I/N" in proc.stderr


def test_release_is_in_sync() -> None:
    proc = run_cli("release", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sample_submissions_are_up_to_date(tmp_path) -> None:
    SAMPLES.write_all(tmp_path)
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    kept = {p.relative_to(SUBMISSIONS).as_posix() for p in SUBMISSIONS.rglob("*")
            if p.is_file()} - {"expected_grades.csv"}
    assert made == kept, "run `python tests/make_sample_submissions.py`"
    for name in made:
        assert (tmp_path / name).read_bytes() == (SUBMISSIONS / name).read_bytes(), (
            f"tests/submissions/{name} is stale: run `python tests/make_sample_submissions.py`")
    students = {r[0] for r in read_rows(SUBMISSIONS / "expected_grades.csv", ["student"])}
    assert students == {p.parts[0] for p in map(Path, made)} | {"symlink_to_solution",
                                                                 "notebook_50mb"}


def test_solution_passes_its_own_tests(monkeypatch) -> None:
    """nbgrader's own validator (what students run with Validate) accepts the solution."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = Config()
    config.Execute.kernel_name = "python3"  # the course kernel need not be installed here
    config.Execute.timeout = 120
    assert Validator(config=config).validate(str(SOLUTION)) == {}


def test_names_that_attack_a_spreadsheet_or_a_terminal_come_out_inert(tmp_path) -> None:
    """Folder and file names are the student's: a formula, an escape sequence, a carriage
    return, a right-to-left override. grades.csv quotes every field, writes control and
    invisible characters as escapes, and defuses a leading = + - @; the terminal shows the same
    escapes; merge reads its own output back to the same bytes and reports a malformed row."""
    blank = SUBMISSIONS / "blank" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    subset = tmp_path / "subset"
    hostile = {"=HYPERLINK(A1)": ASSIGNMENT, "bell\x07\x1b[2Kgraded 0": ASSIGNMENT,
               "mallory": "=1+2;cmd", "rtl\u202egpj.exe": ASSIGNMENT}
    for student, assignment in hostile.items():
        (subset / student / assignment).mkdir(parents=True)
        shutil.copy(blank, subset / student / assignment / f"{ASSIGNMENT}.ipynb")
    (subset / "carol" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(blank, subset / "carol" / ASSIGNMENT / "copy\rpwned.ipynb")
    for i in range(30):  # junk folders: one row for all of them, not 31 rows to render
        (subset / "mallory" / f"junk{i:02d}").mkdir()
    extra = [] if NO_SANDBOX is None else ["--no-sandbox"]
    out = tmp_path / "out"
    proc = run_cli("autograde", str(subset), "--out", str(out), "--jobs", "2", *extra)
    text = (out / "grades.csv").read_text(encoding="utf-8")
    for raw in ("\x07", "\x1b", "\r", "\u202e"):
        assert raw not in text and raw not in proc.stdout, repr(raw)
    assert all(line.startswith('"') and line.endswith('"') for line in text.splitlines())
    rows = {r[0]: r[1:] for r in read_rows(out / "grades.csv",
                                            ["student", "assignment", "status", "detail"])}
    assert set(rows) == {"'=HYPERLINK(A1)", "bell\\x07\\x1b[2Kgraded 0", "carol", "mallory",
                         "rtl\\u202egpj.exe"}, rows  # one row each, mallory's 31 folders too
    assert rows["'=HYPERLINK(A1)"][1] == "bad_layout"  # not a student id: never graded
    assert rows["mallory"][:2] == ("'=1+2;cmd", "unknown_assignment")
    assert "30 more folder(s) that are not assignments" in rows["mallory"][2]
    assert rows["carol"][1] == "missing_notebook"  # only 02_causal_conv1d.ipynb is graded
    assert "copy\\rpwned.ipynb" in text  # carol's notebook named, its \r escaped
    assert "bell\\x07\\x1b[2Kgraded 0/" in proc.stdout  # the terminal shows the escapes

    merged = tmp_path / "merged"
    assert run_cli("merge", str(out), "--out", str(merged)).returncode == 1  # not all graded
    assert (merged / "grades.csv").read_text(encoding="utf-8") == text  # same bytes back

    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    with open(broken / "grades.csv", "a", encoding="utf-8", newline="") as f:
        f.write('"dave","02_causal_conv1d","not a number","45","graded",""\n"eve","short"\n')
    again = run_cli("merge", str(broken), "--out", str(tmp_path / "again"))
    lines = len(text.splitlines())  # the header and one row per student
    assert again.returncode == 1, again.stderr
    assert f"line {lines + 1}: malformed row left out" in again.stderr, again.stderr
    assert f"line {lines + 2}: malformed row left out" in again.stderr
    assert "2 malformed row(s) left out" in again.stdout
    assert (tmp_path / "again" / "grades.csv").read_text(encoding="utf-8") == text
