"""End to end: `python -m grader` on the sample submissions of tests/submissions/.

One batch (module fixture, about 4 minutes on 2 cores) grades every sample, honest and hostile,
together, as a class would hand them in; it is checked against tests/submissions/expected_grades.csv
(written by hand). Then: what hostile code tried to leave on the host is not there, feedback
hides the hidden tests and is inert HTML of bounded size, the instructor's environment does not
reach students, regrading (also with --jobs 1, and as shards merged) gives the same bytes, and the
repository is left untouched.

Where the OS cannot give the sandbox (some hosted CI runners forbid user namespaces), the batch
runs the honest samples only, with --no-sandbox, and the tests of hostile samples are skipped
with the reason.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from sample_batch import (
    ASSIGNMENT,
    LIMITS,
    NO_SANDBOX,
    REPO,
    SAMPLES,
    SUBMISSIONS,
    needs_sandbox,
    read_rows,
    run_cli,
)

from grader.feedback import PAGE_LIMIT, PAGE_SLACK

WATCHED = ["grader", "solutions", "exercises", "toylib", "tests/submissions"]
SECRET = "instructor-secret-4f1c9e"  # in the grader's environment, never in a student's
# honest samples: these, and every exercise's own samples (named exNN_...), which are honest
# answers right or wrong in the ways students are
HONEST = ["perfect", "blank", "right_padding_leak", "buggy_generate", "noisy_but_right",
          "magics_and_plots",
          "infinite_loop", "crashed", "deleted_test_cell", "stripped_metadata",
          "duplicated_test_cell", "duplicated_answer_cell", "tests_made_answers", "empty_notebook",
          "invalid_json", "not_a_notebook", "not_utf8", "renamed_notebook", "unknown_assignment",
          "two_notebooks", "symlink_to_solution", "notebook_50mb",
          "no_grad_decorators", "leftover_debuggers", "float64_default",
          "helper_threads", "helper_threads_then_hangs", ASSIGNMENT]


def is_honest(student: str) -> bool:
    return student in HONEST or re.match(r"ex\d\d_", student) is not None


def snapshot() -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file the grader or a submission could touch in the repository."""
    files = {}
    for top in WATCHED:
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                stat = path.stat()
                files[path.relative_to(REPO).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    for path in REPO.glob(f"*{SAMPLES.HOST_MARKER}*"):
        files[f"left behind: {path.name}"] = (0, 0)
    return files


def expected_rows(columns: list[str]) -> list[tuple[str, ...]]:
    rows = read_rows(SUBMISSIONS / "expected_grades.csv", columns)
    return [r for r in rows if NO_SANDBOX is None or is_honest(r[0])]


def page_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> SimpleNamespace:
    before = snapshot()
    root = tmp_path_factory.mktemp("grading")
    submissions = root / "submissions"
    shutil.copytree(SUBMISSIONS, submissions, symlinks=True)
    (submissions / "expected_grades.csv").unlink()
    SAMPLES.extra_samples(submissions)
    # what hostile samples leave behind carries a mark of this batch only: another batch on
    # the same machine (another test run) never counts as this one's leftovers
    marker = f"{SAMPLES.HOST_MARKER}-{uuid.uuid4().hex[:12]}"
    for path in submissions.rglob("*.ipynb"):
        if not path.is_symlink() and SAMPLES.HOST_MARKER.encode() in path.read_bytes():
            path.write_bytes(path.read_bytes().replace(SAMPLES.HOST_MARKER.encode(),
                                                       marker.encode()))
    args = ["--jobs", "2", *LIMITS]
    if NO_SANDBOX is not None:
        for folder in submissions.iterdir():
            if not is_honest(folder.name):
                shutil.rmtree(folder)
        args.append("--no-sandbox")
    out = root / "out"
    env = dict(os.environ, GRADER_TEST_SECRET=SECRET)
    start = time.perf_counter()
    proc = run_cli("autograde", str(submissions), "--out", str(out), *args, env=env)
    seconds = time.perf_counter() - start
    print(f"\nbatch graded in {seconds:.1f} s\n{proc.stdout}\n{proc.stderr}")
    return SimpleNamespace(out=out, proc=proc, seconds=seconds, before=before,
                           submissions=submissions, marker=marker)


def test_grades_match_expected(batch) -> None:
    assert (batch.out / "grades.csv").exists(), batch.proc.stderr
    columns = ["student", "assignment", "score", "max_score", "status"]
    got = read_rows(batch.out / "grades.csv", columns)
    expected = expected_rows(columns)
    wrong = [(e, g) for e, g in zip(expected, got, strict=False) if e != g]
    assert got == expected, f"(expected, got): {wrong}"


def test_whole_batch_ran_and_exit_code_says_not_all_graded(batch) -> None:
    assert batch.proc.returncode == 1, batch.proc.stderr
    lines = batch.proc.stdout.splitlines()
    for student in sorted(p.name for p in batch.submissions.iterdir()):
        assert any(line.startswith(f"{student}/") for line in lines), student
    with open(batch.out / "grades.csv", encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["student", "assignment", "score", "max_score", "status", "detail",
                      "submitted_at", "late"]
    assert "sandbox:" in batch.proc.stdout  # the protections are said at start-up


def test_rows_not_graded_never_look_like_zero(batch) -> None:
    with open(batch.out / "grades.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] != "graded":
                assert row["score"] == "" and row["detail"], row


@needs_sandbox
def test_tampering_is_named_in_detail(batch) -> None:
    details = {r[0]: r[1] for r in read_rows(batch.out / "grades.csv", ["student", "detail"])}
    assert "torch.allclose was replaced" in details["patches_torch"]
    assert "toylib.checks.assert_causal was replaced" in details["patches_checker"]
    assert "Conv1d.forward" in details["patches_conv_forward"]
    assert "__code__ was set" in details["patches_and_restores"]
    assert "settrace" in details["sets_trace_hook"]
    assert "input transformers" in details["input_transformer"]
    assert "AST transformers" in details["ast_transformer"]
    assert "event callbacks" in details["fake_execute_result"]
    assert "out of turn" in details["injects_replies"]
    assert "builtins" in details["patches_builtins"]
    for student in ("reexports_reference", "subclasses_reference", "obfuscated_reference",
                    "delegates_to_reference", "reference_in_a_thread", "reference_found_by_gc",
                    "reference_in_an_older_thread"):
        assert "toylib.layers.CausalConv1d" in details[student], details[student]


@needs_sandbox
def test_reference_refuses_to_run_even_when_its_record_is_wiped(batch) -> None:
    """The worker's evidence is advisory: an answer that runs the course's layer in a thread
    started before the tests and wipes the worker's record of it still gets no point for it,
    because the course's functions refuse to run while a test checks that answer."""
    page = (batch.out / "feedback" / "reference_hides_its_tracks" / "02_causal_conv1d"
            / "02_causal_conv1d.html").read_text(encoding="utf-8")
    assert "ran while a test checked your answer" in page


def test_honest_habits_are_notes_never_evidence(batch) -> None:
    """Debuggers and profilers left in, torch's decorators, helper threads: graded as in
    Jupyter; what the grader undid is said in detail; a test past its limit is a timeout."""
    rows = {r[0]: r[1:] for r in read_rows(batch.out / "grades.csv",
                                           ["student", "status", "detail"])}
    debuggers = rows["leftover_debuggers"]
    assert debuggers[0] == "graded", debuggers
    assert "started a debugger (Pdb.set_trace)" in debuggers[1]
    assert "left a debugger or profiler running (sys.setprofile: Profile)" in debuggers[1]
    for student in ("no_grad_decorators", "float64_default", "helper_threads", ASSIGNMENT):
        assert rows[student] == ("graded", ""), (student, rows[student])
    status, detail = rows["helper_threads_then_hangs"]
    assert status == "timeout" and "ran past the time limit" in detail, detail


def _hidden_lines() -> list[str]:
    """Lines of the hidden tests that no released exercise and no answer shows."""
    solutions = sorted((REPO / "solutions").glob("*/*.ipynb"))
    visible = []
    for path in solutions:
        visible += [c.source for c in nbformat.read(path, as_version=4).cells
                    if c.metadata.get("nbgrader", {}).get("solution")]
    for path in sorted((REPO / "exercises").glob("*/*.ipynb")):
        visible += [c.source for c in nbformat.read(path, as_version=4).cells]
    shown = "\n".join(visible)
    lines = []
    for path in solutions:
        for cell in nbformat.read(path, as_version=4).cells:
            for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS",
                                    cell.source, re.DOTALL):
                lines += [line.strip() for line in block.splitlines()
                          if len(line.strip()) > 20 and line.strip() not in shown]
    return lines


def test_feedback_hides_hidden_tests_and_secrets(batch) -> None:
    hidden = _hidden_lines()
    assert len(hidden) > 30
    rows = read_rows(batch.out / "grades.csv", ["student", "assignment", "status"])
    pages = sorted((batch.out / "feedback").rglob("*.html"))
    assert {p.relative_to(batch.out / "feedback").parts[0] for p in pages} == {
        r[0] for r in rows if r[1]}
    for page in pages:
        raw = page.read_text(encoding="utf-8")
        text = page_text(page)
        assert "HIDDEN TESTS" not in text and "hidden_" not in text, page
        student, assignment = page.relative_to(batch.out / "feedback").parts[:2]
        handed_in = "".join(f.read_text(encoding="utf-8", errors="replace") for f in
                            (batch.submissions / student / assignment).glob("*.ipynb")
                            if f.is_file())  # a line the student wrote is theirs to see
        leaked = [line for line in hidden
                  if line in text and json.dumps(line)[1:-1] not in handed_in]
        assert not leaked, f"{page}: hidden test lines in feedback: {leaked[:3]}"
        assert SECRET not in raw, f"{page}: the instructor's environment reached the student"
        assert "<script" not in raw.lower() and not re.search(r"<[^>]*\son\w+\s*=", raw), page
        assert len(raw) < PAGE_LIMIT + PAGE_SLACK, f"{page} is {len(raw)} bytes"
    failing = page_text(batch.out / "feedback" / "right_padding_leak" / ASSIGNMENT
                        / f"{ASSIGNMENT}.html")
    assert "the model sees the future" in failing and "passed" in failing


@needs_sandbox
def test_hostile_outputs_are_capped_and_inert(batch) -> None:
    big = batch.out / "autograded" / "prints_100mb" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert big.stat().st_size < 2_000_000
    assert (batch.out / "logs" / f"prints_100mb__{ASSIGNMENT}.log").stat().st_size < 1_000_000
    xss = (batch.out / "feedback" / "xss_outputs" / ASSIGNMENT / f"{ASSIGNMENT}.html")
    raw = xss.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;printed&#x27;)" in raw or "&lt;script&gt;" in raw
    secrets = page_text(batch.out / "feedback" / "reads_secrets" / ASSIGNMENT
                        / f"{ASSIGNMENT}.html")
    assert "found 0 files" in secrets  # no solution, submission, gradebook or grades.csv


@needs_sandbox
def test_hidden_test_inputs_and_the_keyring_stay_out_of_reach(batch) -> None:
    """A right answer that records every layer the tests build (hidden ones too) and prints
    them in a later cell: full marks, and the feedback withholds that cell's output; the
    instructor's notebook keeps it, and shows the worker could not read the grader's keyring."""
    name = "records_test_arguments"
    page = page_text(batch.out / "feedback" / name / ASSIGNMENT / f"{ASSIGNMENT}.html")
    printed = re.compile(r"RECORDED-ARGUMENTS \d+ \[")  # the output, not the code printing it
    assert not printed.search(page) and "ran after tests with hidden inputs" in page
    kept = (batch.out / "autograded" / name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    assert printed.search(kept)
    if "KEYRING" in kept:
        assert "KEYRING -1 EPERM" in kept, kept[kept.index("KEYRING"):][:200]


@needs_sandbox
def test_hostile_code_left_nothing_on_the_host(batch) -> None:
    marker = batch.marker
    leftovers = [p for folder in (Path("/tmp"), Path.home(), REPO, REPO.parent)
                 for p in folder.glob(f"*{marker}*")]
    assert not leftovers, leftovers
    time.sleep(1)
    alive = []
    for proc in Path("/proc").iterdir():
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                alive.append(proc.name)
        except OSError:
            continue
    assert not alive, f"processes started by a submission are still running: {alive}"
    for path in batch.submissions.rglob("*.ipynb"):
        if not path.is_symlink():
            assert path.read_bytes()[:1] in (b"{", b"["), path  # nothing overwrote them


@pytest.mark.parametrize("assignment, tests", [("01_masked_input", 25), (ASSIGNMENT, 17),
                                               ("03_dilation", 21), ("03_find_the_leak", 23),
                                               ("04_pixelcnn", 13), ("05_sequence_encoders", 9),
                                               ("06_modern_causal_convs", 11)])
def test_blank_exercise_fails_every_test_cell(batch, assignment: str, tests: int) -> None:
    nb = nbformat.read(batch.out / "autograded" / "blank" / assignment / f"{assignment}.ipynb",
                       as_version=4)
    reports = [c for c in nb.cells if c.metadata.get("grader", {}).get("kind") == "test"]
    assert len(reports) == tests
    for cell in reports:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert "failed" in text and "NotImplementedError" in text, text[:300]


def test_regrading_with_one_job_and_in_shards_gives_the_same_bytes(batch, tmp_path) -> None:
    subset = tmp_path / "subset"
    students = ("buggy_generate", "right_padding_leak", "invalid_json", "stripped_metadata")
    for student in students:
        shutil.copytree(SUBMISSIONS / student, subset / student)
    extra = [] if NO_SANDBOX is None else ["--no-sandbox"]
    out = tmp_path / "out"
    first = run_cli("autograde", str(subset), "--out", str(out), "--jobs", "1", *LIMITS, *extra)
    first_csv = (out / "grades.csv").read_bytes()
    full = (batch.out / "grades.csv").read_text(encoding="utf-8").splitlines()
    header, rows = full[0], [r for r in full[1:] if student_of(r) in students]
    assert first.returncode == 1, first.stderr
    assert first_csv.decode("utf-8").splitlines() == [header, *rows]
    shards = []
    for index in (1, 2):
        shard = tmp_path / f"shard{index}"
        proc = run_cli("autograde", str(subset), "--out", str(shard), "--shard", f"{index}/2",
                       *LIMITS, *extra)
        assert proc.returncode in (0, 1), proc.stderr
        shards.append(str(shard))
    merged = tmp_path / "merged"
    proc = run_cli("merge", *shards, "--out", str(merged))
    assert proc.returncode == 1, proc.stderr
    assert (merged / "grades.csv").read_bytes() == first_csv
    pages = {p.relative_to(merged).as_posix() for p in (merged / "feedback").rglob("*.html")}
    assert pages == {p.relative_to(out).as_posix() for p in (out / "feedback").rglob("*.html")}
    again = run_cli("merge", shards[0], "--out", str(tmp_path / "half"))
    assert again.returncode == 2 and "not the shards" in again.stderr


def test_grades_do_not_depend_on_load(batch, tmp_path) -> None:
    """Limits count the submission's CPU seconds: beside four processes that keep both cores
    busy, these students get the bytes of grades.csv they got in the batch, a loop past its
    limit included (``make bench-grading-load`` times the whole batch both ways)."""
    students = ["infinite_loop", "noisy_but_right"]  # a loop past its limit; helper threads
    subset = tmp_path / "subset"
    for student in students:
        shutil.copytree(batch.submissions / student, subset / student)
    extra = [] if NO_SANDBOX is None else ["--no-sandbox"]
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(4)]  # each its own session: autogroup scheduling weighs sessions
    try:
        proc = run_cli("autograde", str(subset), "--out", str(tmp_path / "out"), "--jobs", "2",
                       *LIMITS, *extra)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert proc.returncode == 1, proc.stderr
    loaded = (tmp_path / "out" / "grades.csv").read_text(encoding="utf-8").splitlines()
    idle = (batch.out / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert loaded == [idle[0], *(row for row in idle[1:] if student_of(row) in students)]


def student_of(line: str) -> str:
    """The student field of one line of grades.csv (every field is quoted)."""
    return next(csv.reader([line]))[0]


def test_repository_untouched(batch) -> None:
    after = snapshot()
    changed = sorted(k for k in set(batch.before) | set(after)
                     if batch.before.get(k) != after.get(k))
    assert not changed, changed




@needs_sandbox
def test_keys_are_refused_and_images_past_the_budget_are_dropped(batch) -> None:
    """The kernel's key store is out of reach (nothing to read, nothing to leave for the next
    student); a notebook's images past its budget are dropped with a note, not kept per cell."""
    from grader.sandbox_init import keys_supported

    def autograded(student: str) -> dict:
        return json.loads((batch.out / "autograded" / student / ASSIGNMENT
                           / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))

    text = json.dumps(autograded("reads_and_plants_keys"))
    if keys_supported():
        assert "read the grader's session keyring: EPERM" in text
        assert "leave a key for the next student: EPERM" in text
    nb = autograded("floods_images")
    images = sum("image/png" in o.get("data", {}) for c in nb["cells"]
                 for o in c.get("outputs", []))
    assert images == 40, images  # 48 displayed, in three cells
    details = {r[0]: r[1] for r in read_rows(batch.out / "grades.csv", ["student", "detail"])}
    assert "8 outputs not kept: the notebook's output budget" in details["floods_images"]


def test_canvas_export_of_the_batch_has_one_row_per_student_and_no_formulas(batch,
                                                                          tmp_path) -> None:
    """The sample batch (hostile names included) exported for Canvas: one row per student, one
    column per assignment, no cell a spreadsheet would run, scores only where graded."""
    target = tmp_path / "canvas.csv"
    proc = run_cli("export", str(batch.out), "--format", "canvas", "--out", str(target))
    assert proc.returncode in (0, 1), proc.stderr
    with open(target, encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    header, points, rows = table[0], table[1], table[2:]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert points[0] == "Points Possible"
    statuses = read_rows(batch.out / "grades.csv", ["status", "assignment"])
    assert sorted(header[5:]) == sorted({assignment for status, assignment in statuses
                                         if assignment and status != "unknown_assignment"})
    logins = [row[3] for row in rows]
    assert len(logins) == len(set(logins))
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
    graded = {(r[0], r[1]): r[2] for r in read_rows(batch.out / "grades.csv",
                                                    ["student", "assignment", "score"])}
    for row in rows:
        for assignment, cell in zip(header[5:], row[5:], strict=True):
            assert cell == graded.get((row[3], assignment), ""), (row[3], assignment)
