"""Grade one submission: run its plan in a sandboxed worker, judge the tests here, decide the
status. Runs in a grading process of its own (``grader.autograde`` starts one per submission),
so that a crash or a hang of this process costs only this row.

The score is the sum of the points of the test cells the judge saw pass, nothing else. The
status says whether that score stands:

- ``graded``: it does;
- ``tampered``: the student's code replaced what the tests rely on (torch, toylib, builtins,
  trace/import hooks, IPython's machinery) or broke the worker's protocol: no score;
- ``uses_reference``: an answer is the course's own implementation (imported, subclassed or
  called) instead of the student's: no score;
- ``timeout``: a cell or a test ran past its time limit (partial score in ``detail``);
- ``crashed``: the kernel died (partial score in ``detail``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.course import SOLUTIONS_DIR
from grader.judge import Judge, TestResult
from grader.plan import make_plan, needs_run, read_source, reference_uses
from grader.sandbox import Limits, Sandbox
from grader.session import Session
from toylib.exercise import WorkerGone


@dataclass
class Options:
    timeout: float = 60.0  # CPU seconds per cell and per test cell (wall: WALL_FACTOR times)
    limits: Limits = field(default_factory=Limits)
    files: Path | None = None  # copied into the worker's folder (e.g. a matplotlib font cache)


# What one notebook's cells may leave in the results, the feedback page and the instructor's
# notebook, all cells together (each output is also capped on its own by the worker's shell):
# past these, outputs are replaced by a note, so no student can fill the disk or the grader's
# memory with output
NOTEBOOK_OUTPUT_BYTES = 8 << 20
NOTEBOOK_IMAGES = 40


class OutputBudget:
    """Keeps a notebook's outputs while its byte and image budgets last (``keep``)."""

    def __init__(self, max_bytes: int = NOTEBOOK_OUTPUT_BYTES,
                 max_images: int = NOTEBOOK_IMAGES) -> None:
        self.bytes, self.images, self.max_bytes, self.max_images = 0, 0, max_bytes, max_images
        self.dropped = 0

    def keep(self, outputs: object) -> list[dict]:
        outputs = outputs if isinstance(outputs, list) else []
        kept = []
        for output in outputs:
            size = len(json.dumps(output, ensure_ascii=False).encode("utf-8", "replace"))
            data = output.get("data") if isinstance(output, dict) else None
            images = sum(k.startswith("image/") for k in data) if isinstance(data, dict) else 0
            if (self.bytes + size > self.max_bytes or self.images + images > self.max_images):
                self.dropped += 1
                continue
            self.bytes, self.images = self.bytes + size, self.images + images
            kept.append(output)
        if len(kept) < len(outputs):
            kept.append({"output_type": "stream", "name": "stderr",
                         "text": f"[outputs not kept: this notebook's output budget "
                                 f"({self.max_bytes >> 20} MB, {self.max_images} images) is "
                                 "used up]\n"})
        return kept

    def note(self) -> str | None:
        if not self.dropped:
            return None
        return (f"{self.dropped} outputs not kept: the notebook's output budget "
                f"({self.max_bytes >> 20} MB, {self.max_images} images) was used up")


@dataclass
class NotebookResult:
    name: str
    steps: list[dict] = field(default_factory=list)  # what ran, in order, for feedback
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    crashed: str = ""
    out_of_time: bool = False  # the worker was killed for ignoring a time limit's interrupt
    timed_out: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def score(self) -> float:
        return sum(t.points for t in self.tests)


def grade_notebook(assignment: str, notebook: str, nb: dict, sandbox: Sandbox, slot: int,
                   options: Options) -> NotebookResult:
    """Run one submitted notebook (already read and checked) and judge its tests."""
    source = read_source(SOLUTIONS_DIR / assignment / f"{notebook}.ipynb")
    plan = make_plan(source, nb.get("cells", []))
    result = NotebookResult(notebook, notes=list(plan.notes))
    found = reference_uses(source, plan)
    result.evidence += [f"reference: {line}" for line in found]
    if found and not needs_run(found):
        return result
    session = Session(sandbox, slot, options.limits, options.files)
    judge = Judge(source, session, options.timeout)
    budget = OutputBudget()
    try:
        session.start(source.answers())
        for step in plan.steps:
            entry = {"kind": step.kind, "label": step.label, "code": step.code}
            if step.kind == "markdown":
                entry["trusted"] = step.trusted_text
            elif step.kind == "test":
                test = judge.run_test(source.by_id[step.label])
                result.tests.append(test)
                entry["code"] = source.by_id[step.label].visible_source
                entry["test"] = asdict(test)
                if test.timed_out:
                    result.timed_out.append(step.label)
            elif session.gone:
                entry["outputs"] = []
                entry["skipped"] = True
            else:
                if step.kind == "locked":
                    judge.run_locked(source.by_id[step.label])
                reply = session.request({"op": "run", "code": step.code, "label": step.label},
                                        options.timeout, f"cell {step.label}")
                entry["outputs"] = budget.keep(reply.data.get("outputs", []))
                if reply.interrupted:
                    result.timed_out.append(step.label)
            result.steps.append(entry)
            if any(line.startswith("tampered:") for line in session.evidence):
                break  # no point running more: this submission gets no score
    except WorkerGone as error:
        result.crashed = str(error)
    finally:
        session.stop()
        result.evidence += session.evidence
        result.notes += [note for note in session.notes if note not in result.notes]
        if budget.note():
            result.notes.append(budget.note())
        result.log = session.output_log()
    if session.gone and session.gone != "stopped" and not result.crashed:
        result.crashed = session.gone
    result.out_of_time = session.out_of_time
    # tests the plan never reached (the worker died) count as failed
    done = {t.grade_id for t in result.tests}
    for cell in source.tests:
        if cell.grade_id not in done:
            result.tests.append(TestResult(cell.grade_id, 0.0, cell.points, False,
                                           message="not run: " + (result.crashed or "stopped"),
                                           hidden=bool(cell.hidden_lines)))
    return result


def verdict(results: list[NotebookResult], max_score: float) -> tuple[str, str, float | None]:
    """(status, detail, score) of a submission from its notebooks' results."""
    score = sum(r.score for r in results)
    partial = f"partial score {score:g}/{max_score:g}"
    evidence = [line for r in results for line in r.evidence]
    tampered = [line.removeprefix("tampered: ") for line in evidence
                if line.startswith("tampered:")]
    reference = [line.removeprefix("reference: ") for line in evidence
                 if line.startswith("reference:")]
    if tampered:
        return "tampered", _join(tampered), None
    if reference:
        return "uses_reference", _join(reference), None
    timed_out = [label for r in results for label in r.timed_out]
    crashed = [r.crashed for r in results if r.crashed]
    if any(r.out_of_time for r in results):
        return "timeout", f"{crashed[0] if crashed else 'a time limit'}; {partial}", None
    if crashed:
        return "crashed", f"{crashed[0]}; {partial}", None
    if timed_out:
        return "timeout", f"cell {timed_out[0]} ran past the time limit; {partial}", None
    notes = [note for r in results for note in r.notes]
    return "graded", _join(notes), score


def _join(lines: list[str], limit: int = 3) -> str:
    unique = list(dict.fromkeys(lines))
    shown = "; ".join(unique[:limit])
    return shown + (f" (and {len(unique) - limit} more)" if len(unique) > limit else "")


def write_result(path: Path, record: dict) -> None:
    """Write a result file atomically (the coordinator reads it when this process ends)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.replace(path)


def grade_submission(notebooks: dict[str, dict], assignment: str, max_score: float,
                     sandbox: Sandbox, slot: int, options: Options) -> dict:
    """Grade every notebook of one (student, assignment); return the result record."""
    start = time.perf_counter()
    results = [grade_notebook(assignment, name, nb, sandbox, slot, options)
               for name, nb in notebooks.items()]
    status, detail, score = verdict(results, max_score)
    return {"status": status, "detail": detail, "score": score,
            "notebooks": [asdict(r) for r in results], "seconds": time.perf_counter() - start}

