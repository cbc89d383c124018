"""Make the sample submissions in tests/submissions/ from the released exercises.

    python tests/make_sample_submissions.py          # rewrite tests/submissions/
    python tests/make_sample_submissions.py DEST     # write them under DEST instead

Each exercise's data module (tests/exercise_data/exNN_*.py) lists its samples: the released notebook
as a student might hand it in, right in several ways, wrong in the ways students go wrong,
damaged by accident, or hostile. They are written as ``<student>/<assignment>/<notebook>.ipynb``
(a student may hand in several assignments). Their expected statuses and grades are written by
hand in tests/submissions/expected_grades.csv (not by this script), and
tests/test_grader_roundtrip.py grades them all in one batch. Two samples cannot live in git (a
symbolic link, a 50 MB notebook): ``extra_samples`` makes them at test time.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exercise_data import REPO, Kit, exercises  # noqa: E402
from exercise_data.ex02_causal_conv1d import ASSIGNMENT as EX02  # noqa: E402
from exercise_data.ex02_causal_conv1d import HOST_MARKER  # noqa: E402, F401 - used by the tests

DEFAULT_DEST = REPO / "tests" / "submissions"


def write_all(dest: Path) -> list[Path]:
    """Write every sample of every exercise under ``dest``; return the files written."""
    written = []
    for exercise in exercises():
        kit = Kit(exercise)
        name = f"{exercise.assignment}.ipynb"
        for student, make in exercise.data.samples(kit).items():
            made = make(copy.deepcopy(kit.released))
            several = isinstance(made, dict) and not isinstance(made, nbformat.NotebookNode)
            files = made if several else {f"{exercise.assignment}/{name}": made}
            for relative, data in files.items():
                written.append(_write(dest / student / relative, data))
    return written


def extra_samples(dest: Path) -> list[str]:
    """Samples made at test time: a symbolic link into solutions/ and a 50 MB notebook."""
    solution = REPO / "solutions" / EX02 / f"{EX02}.ipynb"
    link = dest / "symlink_to_solution" / EX02 / f"{EX02}.ipynb"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(solution)
    kit = Kit(next(e for e in exercises() if e.assignment == EX02))
    big = kit.fill(kit.released, kit.good)
    big.cells[-1].outputs = [nbformat.v4.new_output("stream", text="x" * (50 * 2**20))]
    _write(dest / "notebook_50mb" / EX02 / f"{EX02}.ipynb", big)
    return ["symlink_to_solution", "notebook_50mb"]


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        text = data if isinstance(data, str) else nbformat.writes(data) + "\n"
        path.write_text(text, encoding="utf-8", newline="\n")
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST
    for file in write_all(target):
        print(file.relative_to(target))
