"""``python -m grader autograde SUBMISSIONS --out DIR``: grade a batch of submissions.

The coordinator (this module) reads every submitted notebook into memory, then grades each
(student, assignment) in a *grading process* of its own, ``--jobs`` at a time. A grading process
runs the student's code in a sandboxed worker (``grader.sandbox``, ``grader.session``) and the
tests itself (``grader.judge``), and writes its result to ``DIR/results/``; a grading process
that crashes, is killed or runs past ``--wall-timeout`` costs only its own row. As each row ends,
``DIR/grades.csv`` is rewritten (sorted, atomically), then the row's feedback is rendered by a
short-lived process with a time limit: a batch whose coordinator is killed keeps every row done.

``grades.csv`` has columns ``student, assignment, score, max_score, status, detail`` (see
``grader.grade`` and ``grader.submissions`` for the statuses); ``score`` is empty unless the
status is ``graded``. Its bytes depend only on the submissions: the same with any ``--jobs``, and
``python -m grader merge`` of ``--shard`` runs gives the bytes of one run.

Also written: ``DIR/feedback/<student>/<assignment>/<notebook>.html`` (for the student: escaped,
no hidden test), ``DIR/autograded/<student>/<assignment>/<notebook>.ipynb`` (for the instructor:
what ran and every test's full result), ``DIR/logs/<student>__<assignment>.log``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from grader.course import REPO_ROOT, SOLUTIONS_DIR, GraderError, list_assignments
from grader.nbgrader_course import mark_times, open_course, write_back
from grader.sandbox import Limits, Sandbox, detect, with_cgroups
from grader.submissions import MAX_NOTEBOOK_BYTES, Submission, discover, shard_of

MARKER = ".grader-output"
OWNED = ("grades.csv", "logs", "results", "feedback", "autograded", "cache", "shard.json",
         "sandbox.json",
         "protections.txt")
COLUMNS = ("student", "assignment", "score", "max_score", "status", "detail", "submitted_at",
           "late")
FIRST_COLUMNS = COLUMNS[:6]  # what every grader wrote first; later ones added the rest
FEEDBACK_TIMEOUT = 30.0


@dataclass
class Settings:
    timeout: int = 60
    wall_timeout: float = 600.0
    jobs: int = 1
    shard: tuple[int, int] | None = None
    no_sandbox: bool = False
    limits: Limits = Limits()
    max_bytes: int = MAX_NOTEBOOK_BYTES
    due: datetime | None = None  # --due: every assignment's due date (naive UTC)
    nbgrader_course: Path | None = None  # --nbgrader-course: grade it and write back to it


def prepare_out(out: Path, submissions: Path) -> None:
    """Make ``out`` an empty grading folder, refusing to touch anything the grader did not make."""
    out, submissions = out.resolve(), submissions.resolve()
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise GraderError("--out and SUBMISSIONS must be apart, neither inside the other")
    if out == REPO_ROOT or out in REPO_ROOT.parents or REPO_ROOT in out.parents and (
            out.relative_to(REPO_ROOT).parts[0] in ("solutions", "exercises", "toylib", "grader")):
        raise GraderError("--out must not be the repository, a folder above it or one of its "
                          "source folders (use e.g. .grading)")
    if out.exists():
        if not out.is_dir() or out.is_symlink():
            raise GraderError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise GraderError(f"refusing to write into {out}: it is not empty and was not made by "
                              "`python -m grader` (no .grader-output file in it)")
        for name in OWNED:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("Made by `python -m grader`; rebuilt on every run.\n",
                              encoding="utf-8")
    for name in ("logs", "results", "feedback", "autograded", "cache"):
        (out / name).mkdir()


# ------------------------------------------------------------------------------ grades.csv
# Never written raw to grades.csv or the terminal: C0 and C1 controls and DEL (a carriage return,
# a bell, an escape sequence that erases a line), and the invisible marks that reorder or hide
# text (bidirectional overrides and isolates, zero-width characters, line/paragraph separators).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064"
                     "\u2066-\u2069\ufeff]")
FORMULA_STARTS = ("=", "+", "-", "@")  # what a spreadsheet reads as the start of a formula


def printable(text: str) -> str:
    """``text`` with every control or invisible formatting character written as its escape
    (``\\r``, ``\\x1b``, ``\\u202e``): what a file or folder name may hold, shown safely."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def csv_field(text: str) -> str:
    """A text field of grades.csv: ``printable``, and a leading ``'`` where a spreadsheet would
    otherwise run it as a formula (a student folder named ``=HYPERLINK(...)``). Idempotent."""
    text = printable(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: list[Submission]) -> str:
    """grades.csv: every field quoted, text fields through ``csv_field``, sorted rows."""
    def number(x: float | None) -> str:
        return "" if x is None else f"{x:g}"

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: (r.student, r.assignment)):
        score = number(row.score) if row.status == "graded" else ""
        writer.writerow([csv_field(row.student), csv_field(row.assignment), score,
                         number(row.max_score), csv_field(row.status or ""),
                         csv_field(row.detail), csv_field(row.submitted_at),
                         csv_field(row.late)])
    return buffer.getvalue()


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(path)


def summary(row: Submission) -> str:
    """One line per submission for the terminal, names and detail escaped (``printable``)."""
    score = f" {row.score:g}/{row.max_score:g}" if row.status == "graded" else ""
    detail = f": {printable(row.detail)}" if row.detail else ""
    name = printable(f"{row.student}/{row.assignment or '-'}")
    return f"{name}: {row.status}{score} ({row.seconds:.1f} s){detail}"


# ---------------------------------------------------------------------- grading processes
def _child(row: Submission, out: Path, slot: int, settings: Settings, sandbox: Sandbox) -> None:
    """Body of a grading process: grade one row, write results/<key>.json, exit. ``sandbox``
    is the parent's, detected once for the batch (a fork inherits it)."""
    code = 1
    try:
        os.setsid()
        _die_with_parent()
        log = open(out / "logs" / f"{row.key}.log", "w", encoding="utf-8")  # noqa: SIM115
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        os.environ["NBGRADER_EXECUTION"] = "autograde"
        import torch

        torch.set_num_threads(1)
        from grader.grade import Options, grade_submission
        from grader.submissions import parse_notebook

        notebooks = {}
        for name, data in row.notebooks.items():
            parsed = parse_notebook(data, f"{name}.ipynb")
            if isinstance(parsed, tuple):
                record = {"status": parsed[0], "detail": parsed[1], "score": None,
                          "notebooks": []}
                break
            notebooks[name] = parsed
        else:
            options = Options(timeout=settings.timeout, limits=settings.limits,
                              files=out / "cache" / "worker")
            record = grade_submission(notebooks, row.assignment, row.max_score or 0.0,
                                      sandbox, slot, options)
        for notebook in record["notebooks"]:
            print(f"== {notebook['name']}: worker output ==\n{notebook.pop('log', '')}")
            for test in notebook["tests"]:
                if test.get("details"):
                    print(f"== {test['grade_id']} ==\n{test['details']}")
        from grader.grade import write_result

        write_result(out / "results" / f"{row.key}.json", record)
        code = 0
    except BaseException:  # noqa: BLE001 - reported in the log; the row says crashed
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the coordinator dies, rather than grade on for no one."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _fork(target, *args) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        target(*args)
        os._exit(1)  # pragma: no cover - target exits itself
    return pid


def _kill_group(pid: int) -> None:
    """Kill a grading process and all it started: its group, and its sandboxed workers, which
    run in sessions of their own (killing their ``unshare`` ends their namespaces)."""
    import psutil

    try:
        victims = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        victims = []
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass


def _finish(row: Submission, out: Path, how: str) -> None:
    """Fill the row from its result file (or say why there is none)."""
    path = out / "results" / f"{row.key}.json"
    if how == "wall":
        row.status, row.detail = "timeout", "stopped at the wall-clock limit of one submission"
        return
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        row.status, row.detail = "crashed", f"the grading process died ({how}); see logs/"
        return
    row.status, row.detail = record["status"], record["detail"]
    row.score = record["score"] if row.status == "graded" else None
    if row.notes and row.status == "graded":
        row.detail = "; ".join([*row.notes, row.detail] if row.detail else row.notes)


def _render(row: Submission, out: Path) -> None:
    """Body of a feedback process: the student's page and the instructor's notebook copy."""
    code = 1
    try:
        from grader.feedback import autograded_notebook, write_feedback

        path = out / "results" / f"{row.key}.json"
        record = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {
            "notebooks": []}
        record.update(student=row.student, assignment=row.assignment, status=row.status,
                      detail=row.detail, score=row.score, max_score=row.max_score)
        names = [nb["name"] for nb in record["notebooks"]] or list(row.notebooks) or ["notebook"]
        for name in names:
            shown = dict(record, notebooks=[nb for nb in record["notebooks"]
                                            if nb["name"] == name])
            write_feedback(shown, out / "feedback" / row.student / row.assignment
                           / f"{name}.html")
            for notebook in shown["notebooks"]:
                copy = out / "autograded" / row.student / row.assignment / f"{name}.ipynb"
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_text(json.dumps(autograded_notebook(record, notebook), indent=1),
                                encoding="utf-8")
        code = 0
    finally:
        os._exit(code)


def _feedback(row: Submission, out: Path) -> None:
    if not row.assignment:
        return
    pid = _fork(_render, row, out)
    deadline = time.monotonic() + FEEDBACK_TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.waitstatus_to_exitcode(status) != 0:
                print(f"warning: no feedback for {row.student}/{row.assignment} (the feedback "
                      "process failed)")
            return
        time.sleep(0.05)
    _kill_group(pid)
    os.waitpid(pid, 0)
    print(f"warning: no feedback for {row.student}/{row.assignment}: it took longer than "
          f"{FEEDBACK_TIMEOUT:g} s")


def prepare_worker_files(out: Path) -> None:
    """Files copied into every worker's folder: a matplotlib font cache, built once here, so
    that each worker does not spend seconds building its own."""
    target = out / "cache" / "worker" / ".config" / "matplotlib"
    target.mkdir(parents=True, exist_ok=True)
    pid = _fork(_build_font_cache, target)
    os.waitpid(pid, 0)


def _build_font_cache(target: Path) -> None:
    try:
        os.environ["MPLCONFIGDIR"] = str(target)
        import matplotlib.font_manager  # noqa: F401 - builds fontlist-*.json in MPLCONFIGDIR
    finally:
        os._exit(0)


def run_batch(rows: list[Submission], out: Path, settings: Settings, sandbox: Sandbox) -> None:
    """Grade the rows that need it, ``settings.jobs`` at a time, each in ``sandbox`` (with its
    cgroups, ``with_cgroups``); keep grades.csv current."""
    pending = [r for r in sorted(rows, key=lambda r: (r.student, r.assignment))
               if r.status is None]
    finished = [r for r in rows if r.status is not None]
    running: dict[int, tuple[Submission, int, float, float]] = {}  # pid -> (row, slot, ...)
    free = list(range(settings.jobs))
    write_atomic(out / "grades.csv", csv_text(finished))
    for row in finished:
        print(summary(row), flush=True)
        _feedback(row, out)
    try:
        while pending or running:
            while pending and free:
                row, slot = pending.pop(0), free.pop(0)
                pid = _fork(_child, row, out, slot, settings, sandbox)
                now = time.monotonic()
                running[pid] = (row, slot, now, now + settings.wall_timeout)
            done = []
            for pid, (row, slot, start, deadline) in running.items():
                ended, status = os.waitpid(pid, os.WNOHANG)
                how = None
                if ended:
                    code = os.waitstatus_to_exitcode(status)
                    how = "exit code 0" if code == 0 else (
                        f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}")
                elif time.monotonic() > deadline:
                    _kill_group(pid)
                    os.waitpid(pid, 0)
                    how = "wall"
                if how:
                    sandbox.cgroups.cleanup(f"grader-{pid}-")  # left if it was killed
                    row.seconds = time.monotonic() - start
                    _finish(row, out, how)
                    finished.append(row)
                    write_atomic(out / "grades.csv", csv_text(finished))
                    print(summary(row), flush=True)
                    _feedback(row, out)
                    done.append((pid, slot))
            for pid, slot in done:
                del running[pid]
                free.append(slot)
            free.sort()
            if not done:
                time.sleep(0.05)
    finally:
        for pid in running:
            _kill_group(pid)


def autograde(submissions: Path | None, out: Path, settings: Settings) -> int:
    """Grade every submission; write ``out/grades.csv`` and feedback. Exit code 0 iff all
    graded. With ``settings.nbgrader_course``, the submissions are that course's ``submitted/``
    and the results also go back into the course (``grader.nbgrader_course``)."""
    assignments = list_assignments()
    course, due, granted = None, {}, {}
    if settings.nbgrader_course is not None:
        course = open_course(settings.nbgrader_course)
        submissions = course.submitted
        due, granted = course.deadlines()
    if settings.due is not None:
        due = dict.fromkeys(assignments, settings.due)
    rows = discover(submissions, assignments, settings.max_bytes)
    mark_times(rows, due, granted)
    if settings.shard:
        index, count = settings.shard
        rows = [r for r in rows if shard_of(r.student, count) == index]
    sandbox = detect(settings.no_sandbox)  # before anything is written: a clear error if not
    prepare_out(out, submissions)
    if settings.shard:
        (out / "shard.json").write_text(json.dumps({"index": settings.shard[0],
                                                    "count": settings.shard[1]}) + "\n")
    boxed = with_cgroups(sandbox)
    # how this output was graded: merge refuses to join outputs graded in different modes
    (out / "sandbox.json").write_text(json.dumps({
        "mode": sandbox.mode, "cgroups": boxed.cgroups.version}) + "\n")
    lines = [*sandbox.protections(), boxed.cgroup_line(settings.limits)]
    protections = "\n".join(f"  - {line}" for line in lines)
    (out / "protections.txt").write_text(protections + "\n", encoding="utf-8")
    print(f"sandbox: {sandbox.mode}\n{protections}", flush=True)
    import grader.grade  # noqa: F401 - imported once here (torch, IPython), inherited by each fork
    from grader.plan import read_source

    for row in rows:
        if row.assignment in assignments:
            row.max_score = sum(read_source(SOLUTIONS_DIR / row.assignment / f"{nb}.ipynb")
                                .max_score for nb in assignments[row.assignment])
    prepare_worker_files(out)
    shard = f" (shard {settings.shard[0]}/{settings.shard[1]})" if settings.shard else ""
    print(f"grading {sum(r.status is None for r in rows)} of {len(rows)} rows{shard} with "
          f"{settings.jobs} job(s)", flush=True)
    start = time.monotonic()
    run_batch(rows, out, settings, boxed)
    nb_bad = sum(row.status != "graded" for row in rows)
    seconds = time.monotonic() - start
    print(f"{len(rows) - nb_bad}/{len(rows)} graded in {seconds:.1f} s; grades in "
          f"{out / 'grades.csv'}")
    late = sum(row.late == "late" for row in rows)
    if late:
        print(f"{late} submission(s) handed in after the due date: see the column `late`")
    if course is not None:
        written, problems = write_back(course, out, rows)
        for line in problems:
            print(f"note: {printable(line)}")
        print(f"nbgrader course {course.root}: {written} submission(s) written to its gradebook "
              "and autograded/, their feedback to feedback/ (`nbgrader release_feedback "
              "ASSIGNMENT` sends it)")
    return 1 if nb_bad else 0
