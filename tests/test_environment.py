"""requirements.txt and environment.yml must list the same packages with the same pins, and the
installed packages must be the pinned ones."""

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
            assert m, f"requirements.txt: {line!r} is not pinned with =="
            pins[_norm(m[1])] = m[2]
    return pins


def conda_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.fullmatch(r"-\s*([A-Za-z0-9_.\-]+)\s*(==?)\s*([^\s]+)", line)
        if m and _norm(m[1]) != "python":
            pins[_norm(m[1])] = m[3]
    return pins


def test_requirements_and_environment_yml_agree():
    pip, conda = pip_pins(), conda_pins()
    assert pip, "no pins found in requirements.txt"
    only_pip = sorted(set(pip) - set(conda))
    only_conda = sorted(set(conda) - set(pip))
    differ = sorted(f"{n}: {pip[n]} vs {conda[n]}" for n in set(pip) & set(conda)
                    if pip[n] != conda[n])
    assert not (only_pip or only_conda or differ), (
        f"requirements.txt and environment.yml drifted apart: only in requirements.txt "
        f"{only_pip}, only in environment.yml {only_conda}, different pins {differ}")
    assert pip["torch"] == "2.13.0", "torch must stay pinned to the local CPU wheel"


@pytest.mark.parametrize("name", sorted(pip_pins()))
def test_installed_versions_are_the_pinned_ones(name):
    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is pinned but not installed: run `make test` (it installs)")
    assert installed.split("+")[0] == pip_pins()[name], (
        f"{name} {installed} is installed but {pip_pins()[name]} is pinned")
