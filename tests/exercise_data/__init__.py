"""The data that tests one exercise, and the code that uses it for every exercise.

Each exercise has a module here (``ex01_masked_input.py``, ``ex02_causal_conv1d.py``) that holds
only data about it:

- ``ASSIGNMENT``: its folder name in ``solutions/`` and ``exercises/``;
- ``VARIANTS``: ``{answer grade id: {name: (failing properties or None, body or bodies)}}``, ways
  to write each answer cell. ``None`` marks a right way (every test cell must pass); otherwise the
  tuple names, by the end of their grade ids, *exactly* the test cells of that answer it must fail
  (``("is_causal", "values")``). A body replaces the solution region of the answer cell (several
  bodies replace several regions, in order);
- ``ISOLATION``: ``{name: ({answer grade id: bodies}, answer tested)}``: a broken earlier answer
  that must not cost the later answer's test cells anything;
- ``samples(kit)``: ``{student: make(released notebook) -> notebook | str | bytes | {path: data}}``,
  the sample submissions graded end to end (expected grades in tests/submissions/).

``Exercise`` runs an exercise's cells in-process (``exec``, probes in local mode), for
tests/test_exercise_variants.py; ``Kit`` builds sample notebooks, for
tests/make_sample_submissions.py. Adding an exercise means adding its module to ``MODULES``.
"""

from __future__ import annotations

import copy
import importlib
import re
import textwrap
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
MODULES = ["ex01_masked_input", "ex02_causal_conv1d", "ex03_dilation", "ex03_find_the_leak",
           "ex04_pixelcnn", "ex05_sequence_encoders", "ex06_modern_causal_convs"]
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?",
                    re.MULTILINE | re.DOTALL)
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS\n.*?^[ \t]*### END HIDDEN TESTS\n?",
                    re.MULTILINE | re.DOTALL)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


class Exercise:
    """An exercise's solution notebook, cell by cell, and ways to run variants of its answers."""

    def __init__(self, module_name: str) -> None:
        self.data = importlib.import_module(f"exercise_data.{module_name}")
        self.assignment = self.data.ASSIGNMENT
        self.solution = REPO / "solutions" / self.assignment / f"{self.assignment}.ipynb"
        self.released = REPO / "exercises" / self.assignment / f"{self.assignment}.ipynb"
        nb = nbformat.read(self.solution, as_version=4)
        self.cells: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.order: list[str] = []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id"):
                self.cells[meta["grade_id"]] = cell.source
                self.order.append(meta["grade_id"])
                self.kinds[meta["grade_id"]] = ("test" if meta.get("grade") else "answer"
                                                if meta.get("solution") else "locked")
        self.tests: dict[str, list[str]] = {}  # answer id -> the test cells that follow it
        answer = None
        for gid in self.order:
            if self.kinds[gid] == "answer":
                answer = gid
                self.tests[gid] = []
            elif self.kinds[gid] == "test" and answer:
                self.tests[answer].append(gid)

    def __repr__(self) -> str:
        return self.assignment

    @property
    def answers(self) -> list[str]:
        return [g for g in self.order if self.kinds[g] == "answer"]

    def solution_answers(self) -> dict[str, str]:
        """The solution's answer cells, markers removed: what a perfect student writes."""
        return {gid: MARKERS.sub("", self.cells[gid]) for gid in self.answers}

    def with_bodies(self, gid: str, *bodies: str) -> str:
        """The answer cell with its solution regions replaced by ``bodies``, in order."""
        parts = iter(bodies)

        def swap(match: re.Match) -> str:
            return textwrap.indent(textwrap.dedent(next(parts)).strip("\n") + "\n", match.group(1))

        source = REGION.sub(swap, self.cells[gid] + "\n")
        assert next(parts, None) is None, f"more bodies than solution regions in {gid}"
        return source

    def fails(self, answer: str, properties: tuple[str, ...] | None) -> frozenset[str] | None:
        """The grade ids, among ``answer``'s test cells, that end with the given properties."""
        if properties is None:
            return None
        found = frozenset(g for g in self.tests[answer] for p in properties
                          if g.endswith(f"_{p}"))
        assert len(found) == len(properties), (answer, properties)
        return found

    def run_cells(self, answers: dict[str, str], tests: list[str], visible_only: bool = False
                  ) -> dict[str, BaseException | None]:
        """Locked cells, every answer cell (``answers`` replacing some), then each test cell, in
        one namespace; {test grade id: the exception it raised, or None}."""
        namespace: dict = {"__name__": "__main__"}
        for gid in self.order:
            if self.kinds[gid] == "locked":
                exec(compile(self.cells[gid], f"<{gid}>", "exec"), namespace)
            elif self.kinds[gid] == "answer":
                exec(compile(answers.get(gid, self.cells[gid]), f"<{gid}>", "exec"), namespace)
        results: dict[str, BaseException | None] = {}
        for gid in tests:
            source = HIDDEN.sub("", self.cells[gid]) if visible_only else self.cells[gid]
            try:
                exec(compile(source, f"<{gid}>", "exec"), namespace)
                results[gid] = None
            except Exception as error:  # noqa: BLE001 - the verdict of the test cell
                results[gid] = error
        return results

    def variants(self) -> list[tuple[str, str]]:
        return [(answer, name) for answer, table in self.data.VARIANTS.items() for name in table]

    def variant(self, answer: str, name: str) -> tuple[frozenset[str] | None, dict[str, str]]:
        properties, body = self.data.VARIANTS[answer][name]
        bodies = body if isinstance(body, tuple) else (body,)
        return self.fails(answer, properties), {answer: self.with_bodies(answer, *bodies)}


class Kit:
    """What ``samples(kit)`` builds sample notebooks with."""

    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise
        self.assignment = exercise.assignment
        self.good = exercise.solution_answers()
        self.released = nbformat.read(exercise.released, as_version=4)

    def fill(self, nb, answers: dict[str, str]):
        """A copy of ``nb`` with the answer cells named in ``answers`` replaced."""
        nb = copy.deepcopy(nb)
        for cell in nb.cells:
            if grade_id(cell) in answers:
                cell.source = answers[grade_id(cell)]
        return nb

    def with_answers(self, **answers: str):
        """A maker: the right answers, some replaced."""
        return lambda nb: self.fill(nb, dict(self.good, **answers))

    def with_cell(self, nb, code: str, after: str):
        """A copy of ``nb`` with a new plain code cell (a student's own) after cell ``after``."""
        nb = copy.deepcopy(nb)
        index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == after)
        cell = nbformat.v4.new_code_cell(code)
        cell.id = f"student-{len(nb.cells)}"
        nb.cells.insert(index + 1, cell)
        return nb

    def variant(self, answer: str, name: str) -> str:
        """The answer cell as variant ``name`` of the exercise's VARIANTS writes it."""
        _, answers = self.exercise.variant(answer, name)
        return MARKERS.sub("", answers[answer])

    @staticmethod
    def replace(text: str, old: str, new: str) -> str:
        if old not in text:
            raise ValueError(f"the solution no longer contains {old!r}: update the samples")
        return text.replace(old, new)


def exercises() -> list[Exercise]:
    return [Exercise(name) for name in MODULES]
