"""The students' lab of `make lab`: their own copies in my_work/ (tools/my_work.py) and the
student Jupyter configuration (jupyter/student/: nbgrader's instructor tools and JupyterLab's
news pop-up off, nbgrader's Validate on). Fast: no server, no kernel."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "my_work.py"
STUDENT = ROOT / "jupyter" / "student"
NBGRADER_LAB = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader"
LAB_STATIC = Path(sys.prefix) / "share" / "jupyter" / "lab" / "static"
NEWS = "@jupyterlab/apputils-extension:announcements"
VALIDATE = "@jupyter/nbgrader:validate-assignment"


def load_script():
    spec = importlib.util.spec_from_file_location("my_work", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["my_work"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


my_work = load_script()


def notebook(text: str) -> str:
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [text]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1) + "\n"


@pytest.fixture
def course(tmp_path):
    """A small course repository: two exercises, a lecture that links to ../README.md."""
    repo = tmp_path / "course"
    for name in ("01_first", "02_second"):
        (repo / "exercises" / name).mkdir(parents=True)
        (repo / "exercises" / name / f"{name}.ipynb").write_text(notebook(f"# {name}"))
    (repo / "exercises" / "01_first" / ".ipynb_checkpoints").mkdir()
    (repo / "exercises" / "01_first" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    (repo / "lectures").mkdir()
    (repo / "lectures" / "01_lecture.ipynb").write_text(
        notebook("see [timings](../README.md#threads) and [next](02_lecture.ipynb)"))
    (repo / "README.md").write_text("# course\n")
    return repo


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_first_start_copies_exercises_and_lectures(course):
    report = my_work.sync(course)
    mine = course / "my_work"
    assert report.copied == ["exercises/01_first/01_first.ipynb",
                             "exercises/02_second/02_second.ipynb", "lectures/01_lecture.ipynb"]
    assert report.kept == report.updated == []
    for key in report.copied[:2]:  # exercises: byte for byte
        assert (mine / key).read_bytes() == (course / key).read_bytes()
    assert not (mine / "exercises" / "01_first" / ".ipynb_checkpoints").exists()
    # the lecture's link out of lectures/ still names the README; the one inside is unchanged
    text = (mine / "lectures" / "01_lecture.ipynb").read_text()
    assert "](../../README.md#threads)" in text and "](02_lecture.ipynb)" in text
    assert (mine / "lectures" / "../../README.md").resolve() == (course / "README.md").resolve()
    json.loads(text)  # still a notebook
    assert set(json.loads((mine / my_work.MANIFEST).read_text())) == set(report.copied)


def test_later_start_adds_new_exercises_and_never_overwrites(course):
    mine = course / "my_work"
    my_work.sync(course)
    edited = mine / "exercises" / "01_first" / "01_first.ipynb"
    edited.write_text("my answer, not even JSON")
    extra = mine / "exercises" / "01_first" / "scratch.py"  # a file of the student's own
    extra.write_text("x = 1\n")
    # a git pull: a new exercise, and the course changes exercise 02 and the lecture
    (course / "exercises" / "03_third").mkdir()
    (course / "exercises" / "03_third" / "03_third.ipynb").write_text(notebook("# 03"))
    (course / "exercises" / "02_second" / "02_second.ipynb").write_text(notebook("# 02 v2"))
    before = files(mine)

    report = my_work.sync(course)
    assert report.copied == ["exercises/03_third/03_third.ipynb"]
    assert report.kept == ["exercises/01_first/01_first.ipynb", "lectures/01_lecture.ipynb"]
    assert report.updated == ["exercises/02_second/02_second.ipynb"]
    after = files(mine)
    for key, data in before.items():
        if key != my_work.MANIFEST:
            assert after[key] == data, f"{key} was changed"
    assert edited.read_text() == "my answer, not even JSON" and extra.exists()
    assert after["exercises/03_third/03_third.ipynb"] == \
        (course / "exercises/03_third/03_third.ipynb").read_bytes()

    text = my_work.describe(report)
    assert "copied 1 new file" in text and "+ my_work/exercises/03_third/03_third.ipynb" in text
    assert "= my_work/exercises/01_first/01_first.ipynb" in text
    assert "! my_work/exercises/02_second/02_second.ipynb" in text and "rename" in text

    # a fresh copy of one exercise: delete (or rename) yours, start again
    (mine / "exercises" / "02_second" / "02_second.ipynb").rename(
        mine / "exercises" / "02_second" / "02_second_old.ipynb")
    report = my_work.sync(course)
    assert report.copied == ["exercises/02_second/02_second.ipynb"] and not report.updated
    assert (mine / "exercises/02_second/02_second.ipynb").read_text() == notebook("# 02 v2")
    assert (mine / "exercises/02_second/02_second_old.ipynb").exists()


def test_dry_run_writes_nothing_and_a_lost_manifest_is_harmless(course):
    report = my_work.sync(course, dry_run=True)
    assert len(report.copied) == 3 and not (course / "my_work").exists()
    my_work.sync(course)
    (course / "my_work" / my_work.MANIFEST).write_text("not json")
    report = my_work.sync(course)
    assert report.copied == [] and len(report.kept) == 3


def test_command_line(course, tmp_path):
    run = [sys.executable, str(SCRIPT), "--repo", str(course)]
    first = subprocess.run(run, capture_output=True, text=True, check=True)
    assert "copied 3 new file(s)" in first.stdout
    assert "+ my_work/exercises/01_first/01_first.ipynb" in first.stdout
    second = subprocess.run(run + ["--dry-run"], capture_output=True, text=True, check=True)
    assert "kept 3 file(s)" in second.stdout and "copied" not in second.stdout


def test_real_course_copies_without_errors(tmp_path):
    """The repository's own exercises and lectures: everything copies, links still resolve."""
    dest = tmp_path / "my_work"
    report = my_work.sync(ROOT, dest)
    assert any(k.startswith("exercises/") and k.endswith(".ipynb") for k in report.copied)
    for key in report.copied:
        if key.endswith(".ipynb"):
            json.loads((dest / key).read_text())
    for path in dest.rglob("*.ipynb"):
        for target in re.findall(r"\]\((\.\./[^)#\s\"]*)", path.read_text()):
            assert (path.parent / target).exists(), f"{path}: broken link {target}"


def test_my_work_is_ignored_by_git():
    assert "my_work/" in (ROOT / ".gitignore").read_text().splitlines()


# ----- the student configuration --------------------------------------------------------------

def nbgrader_plugins() -> set[str]:
    """Every plugin id of the installed nbgrader JupyterLab extension (the bundle names each one
    as a string, some through a variable: `let X="@jupyter/nbgrader:formgrader"`)."""
    found = set()
    for js in (NBGRADER_LAB / "static").glob("*.js"):
        found |= set(re.findall(r'"(@jupyter/nbgrader:[a-z-]+)"', js.read_text()))
    return found


@pytest.mark.skipif(not NBGRADER_LAB.is_dir(), reason="nbgrader's lab extension not installed")
def test_student_lab_disables_exactly_the_instructor_tools_and_the_news():
    disabled = json.loads((STUDENT / "labconfig" / "page_config.json").read_text())
    disabled = {k for k, v in disabled["disabledExtensions"].items() if v}
    plugins = nbgrader_plugins()
    assert VALIDATE in plugins and "@jupyter/nbgrader:formgrader" in plugins
    instructor = plugins - {VALIDATE}  # menu, formgrader, create-assignment, course/assignment list
    assert disabled == instructor | {NEWS}
    assert VALIDATE not in disabled
    # the news plugin is JupyterLab's own
    assert any(f'id:"{NEWS}"' in js.read_text() for js in LAB_STATIC.glob("jlab_core*.js"))


def test_student_server_keeps_validate_only():
    from jupyter_server.extension.config import ExtensionConfigManager

    installed = Path(sys.prefix) / "etc" / "jupyter"
    everything = ExtensionConfigManager(read_config_path=[str(installed)]).get_jpserver_extensions()
    nbgrader = {name for name, on in everything.items() if name.startswith("nbgrader.") and on}
    if not nbgrader:
        pytest.skip("nbgrader's server extensions are not enabled in this environment")
    # what the server reads: the JUPYTER_CONFIG_PATH folder first (it wins), then the venv's
    student = ExtensionConfigManager(read_config_path=[str(STUDENT), str(installed)])
    enabled = {n for n, on in student.get_jpserver_extensions().items() if on}
    assert enabled & nbgrader == {"nbgrader.server_extensions.validate_assignment"}
    assert nbgrader - enabled == {"nbgrader.server_extensions.formgrader",
                                  "nbgrader.server_extensions.assignment_list",
                                  "nbgrader.server_extensions.course_list"}
    assert "jupyterlab" in enabled


@pytest.mark.skipif(not NBGRADER_LAB.is_dir(), reason="nbgrader's lab extension not installed")
def test_labextension_list_with_the_student_config():
    jupyter = Path(sys.prefix) / "bin" / "jupyter"
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(STUDENT), "NO_COLOR": "1"}
    out = subprocess.run([str(jupyter), "labextension", "list"], env=env, text=True,
                         capture_output=True, timeout=60)
    listed = out.stdout + out.stderr
    assert "Disabled extensions:" in listed, listed
    shown = set(re.findall(r"^\s+(@\S+:\S+)\s*$", listed.split("Disabled extensions:")[1], re.M))
    assert shown == nbgrader_plugins() - {VALIDATE} | {NEWS}


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_makefile_lab_targets():
    def dry(target: str) -> str:
        return subprocess.run(["make", "-n", target, "ARGS=--no-browser"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout

    lab, instructor = dry("lab"), dry("lab-instructor")
    assert "tools/my_work.py" in lab
    assert f'JUPYTER_CONFIG_PATH="{STUDENT}' in lab
    assert "--LabApp.default_url=/lab/tree/my_work" in lab and "--no-browser" in lab
    assert "jupyter lab --ServerApp.root_dir=." in instructor and "--no-browser" in instructor
    assert "JUPYTER_CONFIG_PATH" not in instructor and "my_work" not in instructor
