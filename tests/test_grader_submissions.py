"""What `python -m grader autograde` decides before any code runs: the layout, safe reading of
files, the notebook checks and the plan of what runs (fast, in-process)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from grader.course import GraderError, list_assignments
from grader.plan import make_plan, needs_run, read_source, reference_uses
from grader.submissions import discover, parse_notebook, read_notebook, shard_of

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "02_causal_conv1d"
PERFECT = REPO / "tests" / "submissions" / "perfect" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SOURCE = read_source(REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


def cells_of(nb: nbformat.NotebookNode) -> list[dict]:
    return parse_notebook(nbformat.writes(nb).encode(), "x.ipynb")["cells"]


def grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


@pytest.mark.parametrize("text, status", [
    (b"", "invalid_json"),
    (b'{"cells": [', "invalid_json"),
    (b'{"cells": [] \xff}', "invalid_json"),
    (b"[1, 2, 3]", "not_a_notebook"),
    (b'{"cells": [1, 2]}', "not_a_notebook"),
    (nbformat.writes(nbformat.v4.new_notebook()).encode(), "empty_notebook"),
])
def test_broken_files(text: bytes, status: str) -> None:
    verdict = parse_notebook(text, "n.ipynb")
    assert isinstance(verdict, tuple) and verdict[0] == status, verdict
    assert "n.ipynb" in verdict[1]


def test_files_are_read_without_following_links_or_blocking(tmp_path) -> None:
    link = tmp_path / "link.ipynb"
    link.symlink_to(PERFECT)
    assert read_notebook(link)[0] == "not_a_regular_file"
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    assert read_notebook(fifo)[0] == "not_a_regular_file"  # and it did not hang
    (tmp_path / "dir.ipynb").mkdir()
    assert read_notebook(tmp_path / "dir.ipynb")[0] == "not_a_regular_file"
    big = tmp_path / "big.ipynb"
    big.write_bytes(b" " * 2048)
    status, detail = read_notebook(big, max_bytes=1024)
    assert status == "too_large" and "Clear Outputs" in detail
    assert read_notebook(PERFECT) == PERFECT.read_bytes()


def test_layout_problems_become_rows_or_clear_errors(tmp_path) -> None:
    assignments = list_assignments()
    (tmp_path / "alice" / ASSIGNMENT).mkdir(parents=True)
    (tmp_path / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes(PERFECT.read_bytes())
    (tmp_path / "alice" / ASSIGNMENT / "scratch.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / f"{ASSIGNMENT}.ipynb").write_bytes(PERFECT.read_bytes())
    (tmp_path / "bad name").mkdir()
    (tmp_path / "carol").symlink_to(tmp_path / "alice")
    (tmp_path / "loose.ipynb").write_text("{}")
    rows = {(r.student, r.assignment): r for r in discover(tmp_path, assignments)}
    alice = rows[("alice", ASSIGNMENT)]
    assert alice.status is None and alice.notebooks[ASSIGNMENT] == PERFECT.read_bytes()
    assert "ignored scratch.ipynb" in alice.notes[0]
    assert rows[("bob", "")].status == "bad_layout"
    assert rows[("bad name", "")].status == "bad_layout"
    assert rows[("carol", "")].status == "bad_layout"  # a symbolic link is never followed
    with pytest.raises(GraderError, match="holds notebooks directly"):
        discover(tmp_path / "bob", assignments)


def test_a_student_may_be_named_like_an_assignment(tmp_path) -> None:
    """02_causal_conv1d/02_causal_conv1d/02_causal_conv1d.ipynb beside alice/... is a student's;
    a stray assignment folder (notebooks directly in it) is one bad row, named, not a refusal
    of the whole batch; a student's own folder passed as SUBMISSIONS is refused, named."""
    assignments = list_assignments()
    for student in ("alice", ASSIGNMENT):
        folder = tmp_path / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_bytes(PERFECT.read_bytes())
    stray = tmp_path / "01_masked_input"
    stray.mkdir()
    (stray / "01_masked_input.ipynb").write_bytes(PERFECT.read_bytes())
    rows = {(r.student, r.assignment): r for r in discover(tmp_path, assignments)}
    assert rows[("alice", ASSIGNMENT)].status is None
    assert rows[(ASSIGNMENT, ASSIGNMENT)].status is None
    assert rows[(ASSIGNMENT, ASSIGNMENT)].notebooks[ASSIGNMENT] == PERFECT.read_bytes()
    bad = rows[("01_masked_input", "")]
    assert bad.status == "bad_layout" and "01_masked_input is named like an assignment" in (
        bad.detail)
    with pytest.raises(GraderError, match=f"{ASSIGNMENT} is named like an assignment"):
        discover(tmp_path / ASSIGNMENT / ASSIGNMENT / "..", assignments)
    with pytest.raises(GraderError, match="named like an assignment"):
        discover(REPO / "tests" / "submissions" / "perfect", assignments)


def test_shards_are_stable_and_cover_everyone() -> None:
    students = [f"student{i}" for i in range(200)]
    shards = [shard_of(s, 4) for s in students]
    assert set(shards) == {1, 2, 3, 4} and all(shards.count(i) > 30 for i in (1, 2, 3, 4))
    assert shards == [shard_of(s, 4) for s in students]  # the same on every machine and run


def test_plan_takes_tests_from_the_source_and_answers_from_the_student() -> None:
    nb = nbformat.read(PERFECT, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "test_causal_conv1d_values":
            cell.source = "pass  # edited"
            cell.metadata["nbgrader"]["points"] = 100
    nb.cells = [c for c in nb.cells if grade_id(c) != "test_causal_conv1d_is_causal"]
    plan = make_plan(SOURCE, cells_of(nb))
    labels = [s.label for s in plan.steps if s.kind != "markdown"]
    tests = [c.grade_id for c in SOURCE.tests]
    assert [label for label in labels if label in tests] == tests  # all, once, in order
    values = next(s for s in plan.steps if s.label == "test_causal_conv1d_values")
    assert values.code == SOURCE.by_id["test_causal_conv1d_values"].source
    assert "test cell test_causal_conv1d_values was edited; the original was run" in plan.notes
    answer = next(s for s in plan.steps if s.label == "causal_conv1d")
    assert answer.kind == "student" and "F.pad" in answer.code


def test_plan_of_a_notebook_without_metadata_runs_the_tests_last() -> None:
    nb = nbformat.read(PERFECT, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    plan = make_plan(SOURCE, cells_of(nb))
    kinds = [s.kind for s in plan.steps if s.kind != "markdown"]
    assert kinds[0] == "locked"  # the setup, put back first
    first_test = kinds.index("test")
    assert "student" not in kinds[first_test:] and kinds.count("test") == len(SOURCE.tests)
    assert any("metadata is gone" in note for note in plan.notes)


def test_plan_runs_a_pasted_test_cell_once() -> None:
    nb = nbformat.read(PERFECT, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "test_toy_net_shape")
    nb.cells.insert(index, nbformat.from_dict(dict(nb.cells[index], id="copy")))
    plan = make_plan(SOURCE, cells_of(nb))
    assert [s.label for s in plan.steps].count("test_toy_net_shape") == 1
    assert any("appears more than once" in note for note in plan.notes)


@pytest.mark.parametrize("code, flagged", [
    ("from toylib.layers import CausalConv1d", True),
    ("import toylib.layers as L\nclass CausalConv1d(L.CausalConv1d):\n    pass", True),
    ("import toylib\nCausalConv1d = toylib.layers.CausalConv1d", True),
    ("from toylib.layers import *", True),
    ("from toylib import layers\nlayer = layers.CausalConv1d(1, 1, 2)", True),
    ("class CausalConv1d(nn.Module):\n    pass\n%time 1", False),
    ("x = toylib.layers.check_int('k', 2)", False),  # a helper, not the reference
    ("from toylib import layers\nC = getattr(layers, 'CausalConv1d')", True),
])
def test_static_reference_check(code: str, flagged: bool) -> None:
    nb = nbformat.read(PERFECT, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "causal_conv1d":
            cell.source = code
    plan = make_plan(SOURCE, cells_of(nb))
    found = reference_uses(SOURCE, plan)
    assert bool(found) == flagged, found
    if flagged:
        assert "toylib.layers.CausalConv1d" in found[0]


def test_using_the_reference_layer_in_another_answer_is_allowed() -> None:
    nb = nbformat.read(PERFECT, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "toy_net":
            cell.source = cell.source.replace("CausalConv1d(", "toylib.layers.CausalConv1d(")
    assert reference_uses(SOURCE, make_plan(SOURCE, cells_of(nb))) == []


def test_plan_puts_deleted_locked_and_test_cells_back_in_source_order() -> None:
    """A deleted given (locked) cell returns after the cell before it, never before the setup;
    several deleted test cells after one answer keep their order."""
    assignment = "03_find_the_leak"
    source = read_source(REPO / "solutions" / assignment / f"{assignment}.ipynb")
    released = nbformat.read(REPO / "exercises" / assignment / f"{assignment}.ipynb",
                             as_version=4)
    gone = {"given_chomped", "test_same_padding_unchanged", "test_same_padding_is_causal"}
    released.cells = [c for c in released.cells if grade_id(c) not in gone]
    labels = [s.label for s in make_plan(source, cells_of(released)).steps
              if s.label in source.by_id]
    expected = [c.grade_id for c in source.cells if c.grade_id and c.kind != "markdown"]
    assert labels == expected


@pytest.mark.parametrize("code, how", [
    ("import gc\nlayer = [o for o in gc.get_objects() if type(o).__name__ == 'CausalConv1d']",
     "gc.get_objects"),
    ("import sys\nCausalConv1d = sys.modules['toylib' + '.layers'].CausalConv1d", "sys.modules"),
    ("import importlib\nm = importlib.import_module('toy' + 'lib.layers')",
     "importlib.import_module"),
    ("import threading\nt = threading.Thread(target=lambda: __import__('toylib'))", "__import__"),
    ("from importlib import util as u\nspec = u.find_spec('toylib')", "importlib.util"),
    ("exec('import g' + 'c')", "exec"),
    ("layer = eval('__imp' + 'ort__(\"toylib.layers\")')", "eval"),
    ("from toylib import layers as L\nC = getattr(L, 'Causal' + 'Conv1d')",
     "toylib.layers, looked up by a computed name"),
    ("import toylib.layers\nC = vars(toylib.layers)['CausalConv1d']",
     "toylib.layers, looked up by a computed name"),
    ("import toylib\nC = toylib.layers.__dict__['Causal' 'Conv1d']",
     "toylib.layers, looked up by a computed name"),
    ("import types\nf = types.FunctionType(code, {})", "types.FunctionType"),
    ("saved = some_function.__code__", ".__code__"),
])
def test_answers_that_reach_for_code_at_run_time_are_flagged(code: str, how: str) -> None:
    """Looking the course's classes up by a computed name, in the module table or among all
    live objects (then running them in a thread, where no profile hook watched) scored full
    marks; the grader now flags the reach itself, before anything runs."""
    nb = nbformat.read(PERFECT, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "causal_conv1d":
            cell.source += "\n" + code
    found = reference_uses(SOURCE, make_plan(SOURCE, cells_of(nb)))
    assert any(f"({how})" in line and "causal_conv1d" in line for line in found), found


def test_ordinary_dynamic_python_is_not_flagged() -> None:
    nb = nbformat.read(PERFECT, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "causal_conv1d":
            cell.source += ("\nimport gc, re, sys\ngc.collect()\nw = getattr(nn, 'Conv1d')\n"
                            "print(sys.version, sys.argv, re.compile('x'))\n"
                            "model = nn.Linear(1, 1).eval()\nact = getattr(F, 'silu')\n"
                            "name = 'relu'\nact = getattr(torch, name)\nd = vars(nn.Module)\n")
    assert reference_uses(SOURCE, make_plan(SOURCE, cells_of(nb))) == []


def test_copying_code_out_of_a_function_is_flagged_but_still_runs() -> None:
    """A copy of a function's code made before a test runs that code around the guard the
    worker puts on the course's functions; it is flagged, and the submission still runs, so
    that patching torch or toylib (which also reads ``__code__``) is named as tampering."""
    nb = nbformat.read(PERFECT, as_version=4)
    for cell in nb.cells:
        if grade_id(cell) == "causal_conv1d":
            cell.source += "\nsaved = nn.Conv1d.forward.__code__\n"
    found = reference_uses(SOURCE, make_plan(SOURCE, cells_of(nb)))
    assert found and needs_run(found), found
    for cell in nb.cells:
        if grade_id(cell) == "causal_conv1d":
            cell.source += "\nfrom toylib.layers import CausalConv1d\n"
    assert not needs_run(reference_uses(SOURCE, make_plan(SOURCE, cells_of(nb))))
