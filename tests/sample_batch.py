"""What the grader's end-to-end tests share: the sample submissions, the sandbox's availability
here, and running ``python -m grader`` (tests/test_grader_roundtrip.py grades the samples in one
batch; tests/test_grader_cli.py runs the command line on small sets)."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS = REPO / "tests" / "submissions"
ASSIGNMENT = "02_causal_conv1d"
SOLUTION = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
# short limits keep the suite fast: the infinite loop costs one per-cell timeout (CPU seconds).
# The whole-submission wall-clock backstop stays generous: on a loaded machine an honest
# submission's wall time grows with the load, its CPU time does not.
LIMITS = ["--timeout", "6", "--wall-timeout", "300"]
# a guard against a hung grader only, never a measure: the sample batch takes about 5 minutes on
# an idle 2-core machine and three to four times that at a load of 8
HANG_GUARD_S = 3600


def _load_samples():
    spec = importlib.util.spec_from_file_location("make_samples",
                                                  REPO / "tests" / "make_sample_submissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SAMPLES = _load_samples()


def sandbox_reason() -> str | None:
    """None when the sandbox works here, else why not."""
    from grader.sandbox import SandboxUnavailable, detect

    try:
        detect()
    except SandboxUnavailable as error:
        return str(error)
    return None


NO_SANDBOX = sandbox_reason()
needs_sandbox = pytest.mark.skipif(NO_SANDBOX is not None,
                                   reason=f"no sandbox here: {NO_SANDBOX}")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=HANG_GUARD_S, env=env)


def read_rows(path: Path, columns: list[str]) -> list[tuple[str, ...]]:
    with open(path, encoding="utf-8", newline="") as f:
        return [tuple(row[c] for c in columns) for row in csv.DictReader(f)]
