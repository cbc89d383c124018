"""What to run for one submission, taken from the instructor's notebook and the student's.

The instructor's source notebook (``solutions/<assignment>/<notebook>.ipynb``) decides what a
cell *is*: an answer cell (``solution``), a test cell (``grade``, with its points) or a locked
cell (the setup). From the student's notebook only the code of answer cells and of cells the
student added is used, in the student's order; test and locked cells always come from the
source, whatever the submission's copy says (edited, emptied, turned into an answer cell, its
points changed, duplicated by a copy-paste, deleted). A test or locked cell the submission lacks
is put back after the closest source cell before it that the submission has (nbgrader's rule);
without one, a missing locked cell goes first and a missing test cell last. A submission whose
nbgrader metadata was stripped is run cell by cell as the student wrote it, with the tests after
it.

``reference_uses`` reads the answer cells' code (here, in the grader's process) for uses of the
course's reference implementation of that answer (``toylib.layers.CausalConv1d`` written into
the ``CausalConv1d`` answer), declared by the source notebook's metadata
``{"grader": {"references": {"<answer grade id>": ["toylib.module.Name", ...]}}}``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*$",
                    re.MULTILINE | re.DOTALL)


@dataclass
class SourceCell:
    kind: str  # "answer", "test", "locked", "markdown", "code" (an unlocked cell of the source)
    source: str
    grade_id: str | None = None
    points: float = 0.0

    @property
    def hidden_lines(self) -> list[tuple[int, int]]:
        """1-based (first, last) line ranges of the hidden regions of a test cell."""
        ranges = []
        for match in HIDDEN.finditer(self.source):
            first = self.source.count("\n", 0, match.start()) + 1
            ranges.append((first, first + match.group(0).count("\n")))
        return ranges

    @property
    def visible_source(self) -> str:
        return HIDDEN.sub("", self.source)


@dataclass
class Source:
    """The instructor's notebook of one assignment, cell by cell."""

    cells: list[SourceCell]
    references: dict[str, list[str]]
    by_id: dict[str, SourceCell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {c.grade_id: c for c in self.cells if c.grade_id}

    @property
    def tests(self) -> list[SourceCell]:
        return [c for c in self.cells if c.kind == "test"]

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.tests)

    def answer_of(self, test_id: str) -> str | None:
        """The answer cell a test cell tests: the last answer cell before it in the source."""
        answer = None
        for cell in self.cells:
            if cell.grade_id == test_id:
                return answer
            if cell.kind == "answer":
                answer = cell.grade_id
        return None

    def answers(self) -> dict[str, dict[str, list[str]]]:
        """{answer id: {"names": names its solution defines, "references": [...]}}."""
        out = {}
        for cell in self.cells:
            if cell.kind == "answer":
                out[cell.grade_id] = {"names": defined_names(cell.source),
                                      "references": self.references.get(cell.grade_id, [])}
        return out


def read_source(path: Path) -> Source:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id") or None
        if cell.cell_type != "code":
            cells.append(SourceCell("markdown", cell.source, grade_id))
        elif meta.get("grade"):
            cells.append(SourceCell("test", cell.source, grade_id, float(meta.get("points", 0))))
        elif meta.get("solution"):
            cells.append(SourceCell("answer", cell.source, grade_id))
        elif meta.get("locked"):
            cells.append(SourceCell("locked", cell.source, grade_id))
        else:
            cells.append(SourceCell("code", cell.source, grade_id))
    references = nb.metadata.get("grader", {}).get("references", {})
    return Source(cells, {k: list(v) for k, v in references.items()})


def defined_names(code: str) -> list[str]:
    """Top-level names a cell defines (classes, functions, assignments)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


@dataclass
class Step:
    kind: str  # "student" (run in the worker), "locked" (source code, run in the worker),
    #           "test" (run by the judge), "markdown" (shown only)
    label: str
    code: str = ""
    trusted_text: bool = True  # markdown: the source's own text (rendered) or the student's


@dataclass
class Plan:
    steps: list[Step]
    notes: list[str]
    answer_code: dict[str, str]  # answer id -> the student's code (all copies joined)


def make_plan(source: Source, cells: list[dict]) -> Plan:
    """The steps for a submission's cells (nbformat cell dicts, in the student's order)."""
    steps: list[Step] = []
    notes: list[str] = []
    seen: set[str] = set()
    answer_code: dict[str, str] = {}
    markdown = {c.source for c in source.cells if c.kind == "markdown"}
    for index, cell in enumerate(cells):
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        known = source.by_id.get(grade_id) if isinstance(grade_id, str) else None
        if cell.get("cell_type") != "code":
            steps.append(Step("markdown", f"#{index + 1}", text, text in markdown))
        elif known is None or known.kind in ("markdown", "code"):
            steps.append(Step("student", f"#{index + 1}", text))
        elif known.kind == "answer":
            if grade_id in answer_code:
                notes.append(f"answer cell {grade_id} appears more than once; all copies ran in "
                             "order")
            answer_code[grade_id] = answer_code.get(grade_id, "") + text + "\n"
            steps.append(Step("student", grade_id, text))
        elif grade_id in seen:
            notes.append(f"cell {grade_id} appears more than once (a copy-paste?); it ran once")
        else:
            seen.add(grade_id)
            if known.kind == "test" and _lines(text) != _lines(known.visible_source):
                notes.append(f"test cell {grade_id} was edited; the original was run")
            steps.append(Step(known.kind, grade_id, known.source))
    # put back what is missing, in source order: after the closest preceding source cell that
    # the submission has (only the submission's own cells anchor, so that tests never land
    # before the answers of a stripped notebook); without one, a locked cell goes first and a
    # test cell last
    present = {s.label for s in steps}
    front = 0  # locked cells put first so far
    placed: dict[str, int] = {}  # anchor label -> cells put back after it so far
    for position, cell in enumerate(source.cells):
        if cell.kind not in ("test", "locked") or cell.grade_id in seen:
            continue
        seen.add(cell.grade_id)
        step = Step(cell.kind, cell.grade_id, cell.source)
        anchor = next((b.grade_id for b in reversed(source.cells[:position])
                       if b.grade_id in present), None)
        if anchor is not None:
            index = max(i for i, s in enumerate(steps) if s.label == anchor)
            steps.insert(index + 1 + placed.get(anchor, 0), step)
            placed[anchor] = placed.get(anchor, 0) + 1
        elif cell.kind == "locked":
            steps.insert(front, step)
            front += 1
        else:
            steps.append(step)
    if not any(c.get("metadata", {}).get("nbgrader") for c in cells if isinstance(c, dict)):
        notes.append("the notebook's nbgrader metadata is gone; its cells ran in order and the "
                     "tests after them")
    return Plan(steps, notes, answer_code)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# Ways to reach a module's objects without naming them in the code: found objects (gc), the
# module table, imports by a computed name. No exercise answer needs them; an answer that
# looked the course's classes up through them and ran them (in a thread, where no profile
# hook watches) scored full marks before these were flagged
DYNAMIC_REACH = ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.modules",
                 "importlib.import_module", "importlib.__import__", "importlib.util",
                 "importlib.machinery", "builtins.__import__", "__import__", "__builtins__",
                 "pkgutil", "runpy",
                 # code from a string, which no check can read
                 "exec", "eval", "compile", "builtins.exec", "builtins.eval", "builtins.compile",
                 # a function rebuilt from another's code runs that code under a new name
                 "types.FunctionType", "types.CodeType", "types.MethodType")
# attributes that copy a function's code out of it (a copy made before a test runs the
# course's code around the guard the worker puts on the original while the test runs)
CODE_ATTRIBUTES = ("__code__", "__globals__", "__closure__", "__func__")


def reference_uses(source: Source, plan: Plan) -> list[str]:
    """Uses of an answer's reference implementation written in that answer's own cells, and,
    where the assignment has a reference, code of the student's that reaches for modules or
    objects at run time (``DYNAMIC_REACH``)."""
    found = []
    for answer, code in sorted(plan.answer_code.items()):
        banned = source.references.get(answer, [])
        if not banned:
            continue
        for dotted in sorted(_dotted_names(code)):
            for ref in banned:
                star = ref.rpartition(".")[0] + ".*"
                if dotted in (ref, star) or dotted.startswith(ref + "."):
                    found.append(f"the answer cell {answer} uses the course's {ref} instead of "
                                 "its own code")
    every = sorted({ref for refs in source.references.values() for ref in refs})
    if every:
        for step in plan.steps:
            if step.kind == "student":
                refs = source.references.get(step.label) or every
                found += [f"the cell {step.label} reaches for code at run time ({how}), the way "
                          f"an answer finds the course's {', '.join(refs)} without naming it"
                          for how in _dynamic_reach(step.code)]
                found += [f"the cell {step.label} {COPIES_CODE} ({how}), the way an answer runs "
                          f"the course's {', '.join(refs)} past the guard tests put on it"
                          for how in _code_copies(step.code)]
    return sorted(set(found))


COPIES_CODE = "copies code out of a function"


def needs_run(found: list[str]) -> bool:
    """Whether a submission with these static findings still runs: one that only copies code
    out of functions may be patching torch or toylib (tampering, which the worker's checks name,
    says more than a reference found here)."""
    return all(COPIES_CODE in line for line in found)


def _dynamic_reach(code: str) -> list[str]:
    names = _dotted_names(code)
    found = [name for name in DYNAMIC_REACH
             if any(n == name or n.startswith(name + ".") for n in names)]
    found += sorted({f"{n.removesuffix('.*')}, looked up by a computed name" for n in names
                     if n.startswith("toylib") and n.endswith(".*")})
    return found


def _code_copies(code: str) -> list[str]:
    return sorted({f".{part}" for n in _dotted_names(code) for part in n.split(".")[1:]
                   if part in CODE_ATTRIBUTES})


def _dotted_names(code: str) -> set[str]:
    """Fully qualified names a cell refers to, with its own import aliases resolved."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        code = TransformerManager().transform_cell(code)
    except Exception:  # noqa: BLE001 - plain Python then
        pass
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    aliases: dict[str, str] = {}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.partition(".")[0]] = (
                    alias.name if alias.asname else alias.name.partition(".")[0])
                names.add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                aliases[alias.asname or alias.name] = full
                names.add(full)
    def dotted(node: ast.AST) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            return ".".join([aliases.get(node.id, node.id), *reversed(parts)])
        return None

    for node in ast.walk(tree):
        name = dotted(node)
        if name is not None:
            names.add(name)
        # getattr(module, "Name") is module.Name; getattr(module, computed), vars(module),
        # dir(module), module.__dict__, inspect.getmembers(module): any of its names (".*")
        if isinstance(node, ast.Call) and node.args:
            function, base = dotted(node.func), dotted(node.args[0])
            if base is None:
                continue
            second = node.args[1] if len(node.args) > 1 else None
            if function == "getattr" and isinstance(second, ast.Constant) and isinstance(
                    second.value, str):
                names.add(f"{base}.{second.value}")
            elif function in ("getattr", "vars", "dir", "inspect.getmembers"):
                names.add(f"{base}.*")
    names |= {name.partition(".__dict__")[0] + ".*" for name in names if ".__dict__" in name}
    return names
