"""The checks `python -m grader autograde` makes before any kernel starts (fast, in-process)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.course import GraderError, list_assignments
from grader.submissions import check_notebook, discover

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "02_causal_conv1d"
PERFECT = REPO / "tests" / "submissions" / "perfect" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def write(tmp_path: Path, nb: nbformat.NotebookNode) -> Path:
    path = tmp_path / f"{ASSIGNMENT}.ipynb"
    nbformat.write(nb, path)
    return path


def strip(nb: nbformat.NotebookNode, grade_ids: set[str]) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in grade_ids:
            del cell.metadata["nbgrader"]


def test_answer_cells_without_metadata_can_still_be_graded(tmp_path) -> None:
    # the test cells are intact: nbgrader runs the plain answer cells and grades the tests
    nb = nbformat.read(PERFECT, as_version=4)
    strip(nb, {"causal_conv1d", "toy_net", "generate"})
    assert check_notebook(write(tmp_path, nb), ASSIGNMENT, ASSIGNMENT) is None


def test_metadata_loss_that_would_crash_nbgrader_is_caught(tmp_path) -> None:
    # a deleted test cell goes back after the cell before it in the source (the answer cell),
    # which has lost its metadata: nbgrader 0.9.6 would raise KeyError
    nb = nbformat.read(PERFECT, as_version=4)
    strip(nb, {"causal_conv1d"})
    nb.cells = [c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") != "test_causal_conv1d_shape"]
    status, detail = check_notebook(write(tmp_path, nb), ASSIGNMENT, ASSIGNMENT)
    assert status == "missing_metadata" and "causal_conv1d" in detail


def test_deleted_test_cells_alone_are_fine(tmp_path) -> None:
    nb = nbformat.read(PERFECT, as_version=4)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    assert check_notebook(write(tmp_path, nb), ASSIGNMENT, ASSIGNMENT) is None


@pytest.mark.parametrize("text, status", [
    ("", "invalid_json"),
    ('{"cells": [', "invalid_json"),
    ("[1, 2, 3]", "not_a_notebook"),
    ('{"cells": [1, 2]}', "not_a_notebook"),
])
def test_broken_files(tmp_path, text: str, status: str) -> None:
    path = tmp_path / f"{ASSIGNMENT}.ipynb"
    path.write_text(text, encoding="utf-8")
    assert check_notebook(path, ASSIGNMENT, ASSIGNMENT)[0] == status


def test_layout_problems_become_rows_or_clear_errors(tmp_path) -> None:
    assignments = list_assignments()
    (tmp_path / "alice" / ASSIGNMENT).mkdir(parents=True)
    (tmp_path / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes(PERFECT.read_bytes())
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / f"{ASSIGNMENT}.ipynb").write_bytes(PERFECT.read_bytes())
    (tmp_path / "bad name").mkdir()
    (tmp_path / "loose.ipynb").write_text("{}")
    rows = {(r.student, r.assignment): r for r in discover(tmp_path, assignments)}
    assert rows[("alice", ASSIGNMENT)].status is None  # to be graded
    assert rows[("bob", "")].status == "bad_layout"
    assert rows[("bad name", "")].status == "bad_layout"
    with pytest.raises(GraderError, match="holds notebooks directly"):
        discover(tmp_path / "bob", assignments)
    (tmp_path / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").unlink()
    (tmp_path / "alice" / ASSIGNMENT).rmdir()
    with pytest.raises(GraderError, match="nothing in"):  # only bad layouts left
        discover(tmp_path, assignments)
