"""Run an exercise's test cells in the grader's own process, their probes in the worker.

A test cell's code runs here, in a namespace made by the source notebook's locked (setup) cells,
never in the student's process: nothing the student's code does can rebind what a test uses. Its
``@probe`` functions (``toylib.exercise``) are sent to the worker as source text, defined next to
the student's code, and called with plain data; their results come back as plain data. A probe
must be written in the visible part of a test cell (its source reaches the student's process) and
may not use the test cell's other names.

A test cell passes when it runs to its end; it then earns its points. Failing, the student sees
the message of the ``AssertionError`` it raised (or the name of the student's exception), never
the code of a hidden test.
"""

from __future__ import annotations

import ast
import contextlib
import io
import linecache
import time
import traceback
import types
from dataclasses import dataclass
from typing import Any

import toylib.exercise as exercise
from grader.plan import Source, SourceCell
from grader.session import WALL_FACTOR, Session
from toylib.exercise import DataError, ProbeError, ProbeTimeout, WorkerGone


class AuthoringError(Exception):
    """A test cell breaks the rules for probes (a mistake of the exercise, not the student)."""


@dataclass
class TestResult:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""  # why it failed, in the student's terms
    output: str = ""  # what the test cell printed (shown for cells without hidden tests)
    hidden: bool = False
    timed_out: bool = False
    details: str = ""  # full traceback, for the instructor's copy only
    seconds: float = 0.0


class Placeholder:
    """Stands for a ``@probe`` class in the grader's process, where it cannot be used."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AuthoringError(f"{self._name} is a @probe class: it exists next to the student's "
                             "code, use it inside a @probe function")


class Judge(exercise.Backend):
    def __init__(self, source: Source, session: Session, timeout: float) -> None:
        self.source, self.session, self.timeout = source, session, timeout
        self.namespace: dict[str, Any] = {"__name__": "__main__"}
        self.cell: SourceCell | None = None
        self.filename = ""
        self.deadline = 0.0  # wall-clock backstop of the running test cell
        self.cpu_left = 0.0  # CPU seconds its probes may still use in the worker
        self.timed_out = False

    # --------------------------------------------------------------------------- setup
    def run_locked(self, cell: SourceCell) -> None:
        """Run a locked (setup) cell here too, so that tests see its imports and constants."""
        exercise.set_backend(self)
        try:
            self._adopt_default_dtype()
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell.source, f"<locked {cell.grade_id}>", "exec"), self.namespace)
        except Exception:  # noqa: BLE001 - the tests that need it will say so
            print(f"locked cell {cell.grade_id} failed in the grader's process:\n"
                  f"{traceback.format_exc()}")
        finally:
            exercise.set_backend(None)

    # ---------------------------------------------------------------------------- tests
    def run_test(self, cell: SourceCell) -> TestResult:
        self.cell, self.filename = cell, f"<test {cell.grade_id}>"
        lines = cell.source.splitlines(True)
        linecache.cache[self.filename] = (len(cell.source), None, lines, self.filename)
        result = TestResult(cell.grade_id, 0.0, cell.points, False, hidden=bool(cell.hidden_lines))
        printed = io.StringIO()
        start = time.perf_counter()
        self.deadline = start + WALL_FACTOR * self.timeout
        self.cpu_left = self.timeout
        exercise.set_backend(self)
        try:
            self._adopt_default_dtype()
            code = compile(cell.source, self.filename, "exec")
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                exec(code, self.namespace)
            result.passed, result.points = True, cell.points
        except AssertionError as error:
            result.message = str(error).strip() or "a check failed"
            result.details = traceback.format_exc()
        except ProbeError as error:
            result.message = f"your code raised {type(error).__name__}: {error}"
            result.details = traceback.format_exc()
        except ProbeTimeout:
            self.timed_out = result.timed_out = True
            result.message = (f"your code ran past the time limit of this test ({self.timeout:g} "
                              "CPU seconds)")
        except WorkerGone as error:
            result.message = f"not run: {error}"
        except AuthoringError as error:
            result.message = f"this test could not run ({error}): tell your instructor"
            result.details = traceback.format_exc()
        except Exception as error:  # noqa: BLE001 - a failure of the test's own code
            result.details = traceback.format_exc()
            if result.hidden:
                result.message = (f"the test stopped with {type(error).__name__} (a hidden check "
                                  "failed on what your code returned)")
            else:
                result.message = f"{type(error).__name__}: {error}"
        finally:
            exercise.set_backend(None)
            if not self.session.gone:  # everything the probes relied on, checked once per test
                try:
                    self.session.request({"op": "check"}, 30.0, "the check after a test")
                except WorkerGone:
                    pass
        result.output = printed.getvalue()[-8000:]
        result.seconds = time.perf_counter() - start
        return result

    # -------------------------------------------------------------------------- probes
    def register(self, target: Any) -> Any:
        name = target.__name__
        source = self._source_of(target)
        cpu, what, wall = self._left(f"the definition of probe {name}")
        reply = self.session.request({"op": "define", "name": name, "source": source}, cpu, what,
                                     wall)
        if "defined" not in reply.data:
            raise AuthoringError(f"probe {name} could not be defined next to the student's "
                                 f"code: {reply.data.get('failed', '?')}")
        if isinstance(target, type):
            return Placeholder(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            answer = self.source.answer_of(self.cell.grade_id) if self.cell else None
            try:
                data_args, data_kwargs = exercise.encode(args), exercise.encode(kwargs)
            except DataError as error:
                raise AuthoringError(f"arguments of probe {name}: {error}") from None
            cpu, what, wall = self._left(f"your code (probe {name} of {self.cell.grade_id})")
            reply = self.session.request({"op": "call", "name": name, "args": data_args,
                                          "kwargs": data_kwargs, "answer": answer}, cpu, what, wall)
            self.cpu_left -= reply.cpu
            if reply.interrupted:
                raise ProbeTimeout(name)
            if "raised" in reply.data:
                raised = reply.data["raised"] if isinstance(reply.data["raised"], dict) else {}
                raise exercise.probe_error(str(raised.get("type", "Exception")),
                                           str(raised.get("message", ""))[:2000])
            if "value" not in reply.data:
                raise WorkerGone(f"the worker failed: {reply.data.get('failed', '?')}")
            try:
                return exercise.decode(reply.data["value"])
            except DataError as error:
                raise exercise.probe_error("DataError", f"unreadable result: {error}") from None

        call.__name__ = call.__qualname__ = name
        call.__doc__ = target.__doc__
        return call

    def _left(self, what: str = "") -> tuple[float, str, float]:
        """(CPU seconds, what, wall-clock seconds) left to the running test cell's probes."""
        wall = self.deadline - time.perf_counter()
        if wall <= 0 or self.cpu_left <= 0:
            raise ProbeTimeout("time limit")
        return self.cpu_left, what, wall

    def _adopt_default_dtype(self) -> None:
        """Test code shares torch's default dtype with the student's code in Jupyter: here
        too (a student's ``torch.set_default_dtype(torch.float64)`` reaches the tests)."""
        import torch

        wanted = {"float32": torch.float32, "float64": torch.float64}.get(
            getattr(self.session, "default_dtype", "float32"), torch.float32)
        if torch.get_default_dtype() != wanted:
            torch.set_default_dtype(wanted)

    def _source_of(self, target: Any) -> str:
        """The probe's source without its decorators, found in the running test cell."""
        name = getattr(target, "__name__", "?")
        code = getattr(target, "__code__", None)
        if isinstance(code, types.CodeType) and code.co_freevars:
            raise AuthoringError(f"probe {name} uses variables of an enclosing function "
                                 f"({', '.join(code.co_freevars)}): define it at the top level")
        cell = self.cell
        tree = ast.parse(cell.source) if cell else ast.Module(body=[], type_ignores=[])
        nodes = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                 and n.name == name]
        if isinstance(code, types.CodeType):
            nodes = [n for n in nodes if code.co_firstlineno in
                     (n.lineno, *(d.lineno for d in n.decorator_list))]
        if not nodes:
            raise AuthoringError(f"probe {name} must be defined at the top level of a test cell")
        node = nodes[-1]
        for start, end in cell.hidden_lines:
            if start <= node.lineno <= end:
                raise AuthoringError(f"probe {name} is defined in a hidden region: its source "
                                     "would reach the student's process")
        lines = cell.source.splitlines(True)
        return "".join(lines[node.lineno - 1:node.end_lineno])
