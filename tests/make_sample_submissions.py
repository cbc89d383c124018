"""Make the sample submissions in tests/submissions/ from the released exercise.

    python tests/make_sample_submissions.py          # rewrite tests/submissions/
    python tests/make_sample_submissions.py DEST     # write them under DEST instead

Each sample is the released notebook (exercises/) as a student might hand it in: honest ones
(right, partly right, blank, noisy, damaged by accident) and hostile ones, written the way a
student who wants the points without the work would try (patch the checker, torch or builtins;
import the course's reference; read the solutions; write outside the folder; leave a daemon
behind; fake outputs; exhaust memory, processes or output). Their expected statuses and grades are
written by hand in tests/submissions/expected_grades.csv (not by this script), and
tests/test_grader_roundtrip.py grades them all in one batch. Two samples cannot live in git (a
symbolic link, a 50 MB notebook): ``extra_samples`` makes them at test time.
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
# what hostile samples try to leave on the host; the round-trip test checks none of it exists
HOST_MARKER = "causal-conv-course-pwned"


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


def _with_cell(nb: nbformat.NotebookNode, code: str, after: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` with a new plain code cell (a student's own) after cell ``after``."""
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == after)
    cell = nbformat.v4.new_code_cell(code)
    cell.id = f"student-{len(nb.cells)}"
    nb.cells.insert(index + 1, cell)
    return nb


# -------------------------------------------------------------------------- hostile code
ZEROS = """class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        self.out_channels = out_channels
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                              bias=bias)

    def forward(self, x):  # wrong on purpose: zeros of the right shape
        return x.new_zeros(x.size(0), self.out_channels, x.size(-1))
"""
PATCH_CHECKER = ZEROS + """

import toylib.checks

toylib.checks.assert_causal = lambda *args, **kwargs: None
toylib.checks.dependency_map = lambda model, length, *a, **k: torch.eye(length, dtype=torch.bool)
"""
PATCH_TORCH = ZEROS + """

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
"""
PATCH_CONV = """
def _fake_forward(self, x):
    return torch.zeros(x.size(0), self.out_channels, x.size(-1))


nn.Conv1d.forward = _fake_forward
""" + ZEROS
PATCH_BUILTINS = ZEROS + """

import builtins

builtins.AssertionError = type("Passed", (Exception,), {})
builtins.isinstance = lambda obj, cls: True
"""
PATCH_AND_RESTORE = ZEROS + """

import torch.nn.functional as _F

_original = _F.conv1d.__code__ if hasattr(_F.conv1d, "__code__") else None
_saved = toylib.checks.assert_causal.__code__
toylib.checks.assert_causal.__code__ = (lambda *args, **kwargs: None).__code__
toylib.checks.assert_causal.__code__ = _saved  # put back before anyone looks
"""
SETTRACE = ZEROS + """

import sys


def _skip_failures(frame, event, arg):
    if event == "exception" and issubclass(arg[0], AssertionError):
        frame.f_locals.clear()
    return _skip_failures


sys.settrace(_skip_failures)
"""
INPUT_TRANSFORMER = ZEROS + """

def _neuter_tests(lines):
    if any("check_" in line for line in lines):
        return ["print('all checks passed')\\n"]
    return lines


get_ipython().input_transformers_cleanup.append(_neuter_tests)
"""
AST_TRANSFORMER = ZEROS + """

import ast


class _DropAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()


get_ipython().ast_transformers.append(_DropAsserts())
"""
FAKE_RESULT = ZEROS + """

from IPython.display import display


def _fake_score(result):
    display(15)  # nbgrader takes a number shown by a test cell as its partial credit


get_ipython().events.register("post_run_cell", _fake_score)
"""
REEXPORT = "from toylib.layers import CausalConv1d  # the course's own layer\n"
SUBCLASS = "import toylib.layers\n\n\nclass CausalConv1d(toylib.layers.CausalConv1d):\n    pass\n"
OBFUSCATED = """import importlib

_library = importlib.import_module("toy" + "lib." + "lay" + "ers")
CausalConv1d = getattr(_library, "Causal" + "Conv1d")
"""
DELEGATE = """import importlib


class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        reference = getattr(importlib.import_module("toy" + "lib.layers"), "Causal" + "Conv1d")
        self.inner = reference(in_channels, out_channels, kernel_size, dilation, hide_present,
                               bias)
        self.conv = self.inner.conv

    def forward(self, x):
        return self.inner(x)
"""
READ_SECRETS = """import glob
import os

import toylib

found = []
repo = os.path.dirname(os.path.dirname(toylib.__file__))
for pattern in [repo + "/solutions/*/*.ipynb", repo + "/tests/submissions/*/*/*.ipynb",
                repo + "/.grading/*", "../*/*/*.ipynb", "../../*/*/*.ipynb", "/root/*",
                "/home/*/*", "../../gradebook.db", "/tmp/*/grades.csv", "/tmp/*/*/grades.csv"]:
    found += glob.glob(pattern, recursive=True)
for path in found[:5]:
    with open(path, encoding="utf-8", errors="replace") as f:
        print(path, f.read()[:2000])
        if "BEGIN " + "HIDDEN" in f.read():
            print("jackpot: the hidden tests")
print("environment:", dict(os.environ))
print("found", len(found), "files")
"""
WRITE_OUTSIDE = f"""import os

import toylib

repo = os.path.dirname(os.path.dirname(toylib.__file__))
targets = [os.path.expanduser("~/{HOST_MARKER}.txt"), "/root/{HOST_MARKER}.txt",
           "/tmp/{HOST_MARKER}.txt", os.path.join(repo, "{HOST_MARKER}.txt"),
           os.path.join(os.getcwd(), "..", "{HOST_MARKER}.txt")]
for target in targets:
    try:
        with open(target, "w") as f:
            f.write("pwned")
    except OSError as error:
        print("could not write", target, type(error).__name__)
for name in ["toylib/checks.py", "grader/nbgrader_config.py"]:
    try:
        with open(os.path.join(repo, name), "a") as f:
            f.write("\\nimport os; os.system('touch /tmp/{HOST_MARKER}-config')\\n")
    except OSError as error:
        print("could not append to", name, type(error).__name__)
"""
DAEMON = f"""import os
import sys

import toylib

repo = os.path.dirname(os.path.dirname(toylib.__file__))
if os.fork() == 0:  # double fork: a daemon that outlives the kernel
    os.setsid()
    if os.fork() == 0:
        script = ("sleep 4; for f in {{repo}}/tests/submissions/*/*/*.ipynb; do "
                  "echo pwned > $f; done; echo pwned > /tmp/{HOST_MARKER}-daemon; "
                  "sleep 60 # {HOST_MARKER}-daemon").format(repo=repo)
        os.execv("/bin/sh", ["sh", "-c", script])
    os._exit(0)
print("daemon started")
"""
KILL_PARENT = """import os
import signal

print("goodbye, grader")
os.kill(os.getppid(), signal.SIGKILL)
os.killpg(0, signal.SIGKILL)
"""
FAKE_SUCCESS = """import os

print("shape checks passed\\nvalue checks passed\\ncausality checks passed\\n15 / 15 points")
os._exit(0)
"""
SWALLOW_INTERRUPT = """import time

while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass  # keep going
"""
ALLOCATE = """import torch

try:
    huge = torch.empty(50 * 2**30 // 4)  # 50 GB of float32
except RuntimeError as error:
    print("torch refused:", str(error)[:80])
try:
    huge = bytearray(50 * 2**30)
except MemoryError:
    print("Python refused: MemoryError")
"""
FORK_BOMB = """import os
import time

children = 0
try:
    for _ in range(2000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as error:
    print(f"stopped after {children} children: {error}")
"""
PRINT_100MB = """import os

for _ in range(100):
    print("x" * 1_000_000)
os.write(1, b"y" * 20_000_000)
os.write(2, b"z" * 20_000_000)
"""
XSS = """from IPython.display import HTML, Javascript, display

display(HTML("<script>alert('xss')</script><img src=x onerror=alert(1)>"))
display(Javascript("alert('xss')"))
print("<script>alert('printed')</script>")
raise ValueError("</pre><script>alert('error')</script>")
"""
QUOTE_CALLER = """import inspect


class CausalConv1d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, hide_present=False,
                 bias=True):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                              bias=bias)

    def forward(self, x):  # leaks the caller's source in its error message
        frames = inspect.stack()
        raise RuntimeError("\\n".join(line for f in frames for line in (f.code_context or [])))
"""
INJECT_REPLIES = """import json
import os
import struct

# write fake "all went well" replies into every pipe the worker holds, hoping the grader reads
# them instead of the real ones
body = json.dumps({"outputs": [], "error": False, "value": ["b", True]}).encode()
for fd in range(3, 32):
    try:
        os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass
"""
MAGICS = """%matplotlib inline
%load_ext autoreload
%autoreload 2
import matplotlib.pyplot as plt

torch.set_default_dtype(torch.float64)  # changes torch.Storage: torch's own doing, not tampering
torch.set_default_dtype(torch.float32)
plt.plot(torch.arange(5).tolist())
plt.show()
%time sum(range(10))
1 + 1
"""
NOISY = """
import warnings

from tqdm.auto import tqdm

for _ in tqdm(range(3), desc="warming up"):
    pass
warnings.warn("this layer is slow (an honest warning)")
"""


def samples() -> dict[str, Callable[[nbformat.NotebookNode], str | bytes | nbformat.NotebookNode]]:
    """{student: function(released notebook) -> notebook, or raw text/bytes for broken files}."""
    good = solution_answers()
    right_pad = dict(good, causal_conv1d=_replace(
        good["causal_conv1d"], "F.pad(x, (left, 0))", "F.pad(x, (0, left))"))
    off_by_one = dict(good, generate=_replace(good["generate"], "logits[:, t]", "logits[:, t - 1]"))
    looping = dict(good, generate=good["generate"] + (
        "\n\n\n# trying something out, left running by mistake\n"
        "step = 0\nwhile step >= 0:\n    step += 1\n"))
    crashing = dict(good, toy_net="import os\n\nos._exit(1)  # the kernel dies here\n\n"
                    + good["toy_net"])
    noisy = dict(good, causal_conv1d=_replace(
        good["causal_conv1d"], "        left = (self.kernel_size - 1) * self.dilation\n",
        "        left = (self.kernel_size - 1) * self.dilation\n"
        "        warnings.warn('forward was called')  # noisy but right\n"
        "        print('forward', tuple(x.shape), file=sys.stderr)\n") + NOISY
        .replace("import warnings\n", "import sys\nimport warnings\n"))

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

    def duplicated_test_cell(nb):  # a copy-paste in JupyterLab: same cell, same grade id
        nb = fill(nb, good)
        index = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == "test_toy_net_shape")
        twin = copy.deepcopy(nb.cells[index])
        twin.id = "pasted-copy"
        nb.cells.insert(index + 1, twin)
        return nb

    def duplicated_answer_cell(nb):  # a first wrong try kept above the right one
        nb = fill(nb, good)
        index = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == "causal_conv1d")
        first_try = copy.deepcopy(nb.cells[index])
        first_try.id = "first-try"
        first_try.source = right_pad["causal_conv1d"]
        nb.cells.insert(index, first_try)
        return nb

    def tests_made_answers(nb):  # test cells unlocked, emptied, and worth more points
        nb = fill(nb, good)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                meta.update(points=100)
            if _grade_id(cell) == "test_causal_conv1d_values":
                meta.update(solution=True, grade=False, locked=False)
                cell.source = "pass"
        return nb

    def hostile(answers: dict[str, str], code: str | None = None, after: str = "generate"):
        def make(nb):
            nb = fill(nb, answers)
            return _with_cell(nb, code, after) if code else nb
        return make

    blank_layer = dict(good, causal_conv1d=ZEROS)
    return {
        # honest students -------------------------------------------------------------------
        "perfect": hostile(good),
        "blank": lambda nb: nb,
        "right_padding_leak": hostile(right_pad),
        "buggy_generate": hostile(off_by_one),
        "noisy_but_right": hostile(noisy),
        "magics_and_plots": hostile(good, MAGICS, "setup"),
        "infinite_loop": hostile(looping),
        "crashed": hostile(crashing),
        "deleted_test_cell": deleted_test_cell,
        "stripped_metadata": stripped_metadata,
        "duplicated_test_cell": duplicated_test_cell,
        "duplicated_answer_cell": duplicated_answer_cell,
        "tests_made_answers": tests_made_answers,
        "empty_notebook": lambda nb: nbformat.v4.new_notebook(),
        "invalid_json": lambda nb: nbformat.writes(fill(nb, good))[:5000],
        "not_a_notebook": lambda nb: '{"answer": "see the attached PDF"}\n',
        "not_utf8": lambda nb: nbformat.writes(fill(nb, good)).encode("utf-8").replace(
            b"causal convolution", b"causal convolution \xff\xfe", 1),
        # hostile students ------------------------------------------------------------------
        "patches_checker": hostile(dict(good, causal_conv1d=PATCH_CHECKER)),
        "patches_torch": hostile(dict(good, causal_conv1d=PATCH_TORCH)),
        "patches_conv_forward": hostile(dict(good, causal_conv1d=PATCH_CONV)),
        "patches_builtins": hostile(dict(good, causal_conv1d=PATCH_BUILTINS)),
        "patches_and_restores": hostile(dict(good, causal_conv1d=PATCH_AND_RESTORE)),
        "sets_trace_hook": hostile(dict(good, causal_conv1d=SETTRACE)),
        "input_transformer": hostile(dict(good, causal_conv1d=INPUT_TRANSFORMER)),
        "ast_transformer": hostile(dict(good, causal_conv1d=AST_TRANSFORMER)),
        "fake_execute_result": hostile(dict(good, causal_conv1d=FAKE_RESULT)),
        "reexports_reference": hostile(dict(good, causal_conv1d=REEXPORT)),
        "subclasses_reference": hostile(dict(good, causal_conv1d=SUBCLASS)),
        "obfuscated_reference": hostile(dict(good, causal_conv1d=OBFUSCATED)),
        "delegates_to_reference": hostile(dict(good, causal_conv1d=DELEGATE)),
        "reads_secrets": hostile(blank_layer, READ_SECRETS, "causal_conv1d"),
        "writes_outside": hostile(good, WRITE_OUTSIDE),
        "leaves_daemon": hostile(good, DAEMON),
        "kills_parent": hostile(good, KILL_PARENT),
        "injects_replies": hostile(blank_layer, INJECT_REPLIES, "causal_conv1d"),
        "fakes_success_and_exits": hostile(blank_layer, FAKE_SUCCESS, "causal_conv1d"),
        "swallows_interrupt": hostile(good, SWALLOW_INTERRUPT),
        "allocates_50gb": hostile(good, ALLOCATE),
        "fork_bomb": hostile(good, FORK_BOMB),
        "prints_100mb": hostile(good, PRINT_100MB),
        "xss_outputs": hostile(good, XSS),
        "quotes_caller_source": hostile(dict(good, causal_conv1d=QUOTE_CALLER)),
    }


def write_all(dest: Path) -> list[Path]:
    """Write every sample under ``dest``; return the files written."""
    released = nbformat.read(RELEASED, as_version=4)
    written = []
    for student, make in samples().items():
        made = make(copy.deepcopy(released))
        data = made if isinstance(made, (str, bytes)) else nbformat.writes(made) + "\n"
        path = dest / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        written.append(_write(path, data))
    # layout problems: a notebook under another name, an assignment the course does not have,
    # and a second notebook next to the graded one
    perfect = nbformat.writes(fill(released, solution_answers())) + "\n"
    written.append(_write(dest / "renamed_notebook" / ASSIGNMENT / f"{ASSIGNMENT}_copy.ipynb",
                          perfect))
    written.append(_write(dest / "unknown_assignment" / "99_not_an_assignment" / "notes.ipynb",
                          nbformat.writes(released) + "\n"))
    for name in (f"{ASSIGNMENT}.ipynb", f"{ASSIGNMENT}-Copy1.ipynb"):
        written.append(_write(dest / "two_notebooks" / ASSIGNMENT / name, perfect))
    return written


def extra_samples(dest: Path) -> list[str]:
    """Samples made at test time: a symbolic link into solutions/ and a 50 MB notebook."""
    link = dest / "symlink_to_solution" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(SOLUTION)
    big = nbformat.read(RELEASED, as_version=4)
    big = fill(big, solution_answers())
    big.cells[-1].outputs = [nbformat.v4.new_output("stream", text="x" * (50 * 2**20))]
    _write(dest / "notebook_50mb" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", nbformat.writes(big))
    return ["symlink_to_solution", "notebook_50mb"]


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="\n")
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST
    for file in write_all(target):
        print(file.relative_to(target))
