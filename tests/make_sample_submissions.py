"""Make the sample submissions in tests/submissions/ from the released exercise.

    python tests/make_sample_submissions.py          # rewrite tests/submissions/
    python tests/make_sample_submissions.py DEST     # write them under DEST instead

Each sample is the released notebook (exercises/) as a student would hand it in: answer cells
filled (or not), sometimes damaged. Their expected grades are written by hand in
tests/submissions/expected_grades.csv (not by this script). tests/test_grader_roundtrip.py checks
that these files are what this script makes from the current exercise.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "02_causal_conv1d"
RELEASED = REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SOLUTION = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
DEFAULT_DEST = REPO / "tests" / "submissions"
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solution_answers() -> dict[str, str]:
    """The solution's answer cells, markers removed: what a perfect student writes."""
    nb = nbformat.read(SOLUTION, as_version=4)
    return {_grade_id(c): MARKERS.sub("", c.source) for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def fill(nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of ``nb`` with the answer cells named in ``answers`` replaced."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if _grade_id(cell) in answers:
            cell.source = answers[_grade_id(cell)]
    return nb


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"the solution no longer contains {old!r}: update this script")
    return text.replace(old, new)


def samples() -> dict[str, Callable[[nbformat.NotebookNode], str | nbformat.NotebookNode]]:
    """{student: function(released notebook) -> notebook, or raw text for broken files}."""
    good = solution_answers()
    right_pad = dict(good, causal_conv1d=_replace(
        good["causal_conv1d"], "F.pad(x, (left, 0))", "F.pad(x, (0, left))"))
    off_by_one = dict(good, generate=_replace(good["generate"], "logits[:, t]", "logits[:, t - 1]"))
    looping = dict(good, generate=good["generate"] + (
        "\n\n\n# trying something out, left running by mistake\n"
        "step = 0\nwhile step >= 0:\n    step += 1\n"))
    crashing = dict(good, toy_net="import os\n\nos._exit(1)  # the kernel dies here\n\n"
                    + good["toy_net"])

    def deleted_test_cell(nb):
        nb = fill(nb, good)
        nb.cells = [c for c in nb.cells if _grade_id(c) != "test_causal_conv1d_is_causal"]
        for cell in nb.cells:  # and an edited test cell: both are restored when grading
            if _grade_id(cell) == "test_causal_conv1d_values":
                cell.source = "pass  # the tests were too strict"
        del nb.metadata["kernelspec"]  # and no kernelspec: the grader picks the kernel itself
        return nb

    def stripped_metadata(nb):
        nb = fill(nb, good)
        for cell in nb.cells:
            cell.metadata.pop("nbgrader", None)
        return nb

    return {
        "perfect": lambda nb: fill(nb, good),
        "blank": lambda nb: nb,
        "right_padding_leak": lambda nb: fill(nb, right_pad),
        "buggy_generate": lambda nb: fill(nb, off_by_one),
        "infinite_loop": lambda nb: fill(nb, looping),
        "crashed": lambda nb: fill(nb, crashing),
        "deleted_test_cell": deleted_test_cell,
        "stripped_metadata": stripped_metadata,
        "invalid_json": lambda nb: nbformat.writes(fill(nb, good))[:5000],
        "not_a_notebook": lambda nb: '{"answer": "see the attached PDF"}\n',
    }


def write_all(dest: Path) -> list[Path]:
    """Write every sample under ``dest``; return the files written."""
    released = nbformat.read(RELEASED, as_version=4)
    written = []
    for student, make in samples().items():
        made = make(copy.deepcopy(released))
        text = made if isinstance(made, str) else nbformat.writes(made) + "\n"
        path = dest / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        written.append(_write(path, text))
    # layout problems: a notebook under another name, an assignment the course does not have
    written.append(_write(dest / "renamed_notebook" / ASSIGNMENT / f"{ASSIGNMENT}_copy.ipynb",
                          nbformat.writes(fill(released, solution_answers())) + "\n"))
    written.append(_write(dest / "unknown_assignment" / "99_not_an_assignment" / "notes.ipynb",
                          nbformat.writes(released) + "\n"))
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST
    for file in write_all(target):
        print(file.relative_to(target))
