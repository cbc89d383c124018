"""Course roots and nbgrader runs (a forked process each), for ``release``.

A *course root* is a folder laid out as nbgrader expects (``nbgrader_config.py``, ``solutions/``,
``exercises/``, ``gradebook.db``, ...). The grader never uses the repository itself as one: it
builds a fresh root in a temporary folder, so nbgrader's state never lands in the repository
tree. (Grading does not use nbgrader: see ``grader/autograde.py``.)
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent
REPO_ROOT = GRADER_DIR.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
CONFIG_FILES = ("nbgrader_config.py",)
IGNORED_NAMES = shutil.ignore_patterns(".*", "__pycache__", "*.pyc")


class GraderError(Exception):
    """A problem with the grader's input that the user must fix (printed without a traceback)."""


def list_assignments(solutions: Path = SOLUTIONS_DIR) -> dict[str, list[str]]:
    """Assignments of the course: {assignment: [notebook names without .ipynb]}, sorted."""
    if not solutions.is_dir():
        raise GraderError(f"no solutions folder at {solutions}")
    found = {}
    for folder in sorted(solutions.iterdir()):
        if folder.is_dir() and not folder.name.startswith((".", "_")):
            notebooks = sorted(p.stem for p in folder.glob("*.ipynb"))
            if notebooks:
                found[folder.name] = notebooks
    if not found:
        raise GraderError(f"no assignment in {solutions}: expected solutions/<assignment>/*.ipynb")
    return found


def make_course_root(root: Path) -> None:
    """Fill ``root`` with the course's nbgrader config and a copy of ``solutions/``."""
    root.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_FILES:
        shutil.copyfile(GRADER_DIR / name, root / name)
    shutil.copytree(SOLUTIONS_DIR, root / "solutions", ignore=IGNORED_NAMES)


@dataclass
class RunResult:
    """What happened to one nbgrader command."""

    returncode: int | None  # None: killed at the wall-clock limit
    seconds: float
    log: str


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (kernels run in sessions of their own)."""
    try:
        import psutil  # installed with IPython

        try:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        for proc in procs:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
    except ImportError:  # pragma: no cover - psutil is an IPython dependency
        pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_gradebook_version_known = False


def _known_gradebook_version() -> None:
    """Spare nbgrader a 4 s subprocess each time it creates a gradebook.

    nbgrader 0.9.6 learns the gradebook's schema version, a constant of the installed nbgrader, by
    running the ``alembic heads`` script in a subprocess (``nbgrader.api.get_alembic_version``).
    Here it is read once from nbgrader's own migration scripts, in this process; the forks
    inherit the answer. With more than one head, nbgrader's own way is kept.
    """
    global _gradebook_version_known
    if _gradebook_version_known:
        return
    import nbgrader.api
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.api.__file__).parent / "alembic"))
    heads = ScriptDirectory.from_config(config).get_heads()
    if len(heads) == 1:
        version = heads[0]
        nbgrader.api.get_alembic_version = lambda: version
    _gradebook_version_known = True


def _child(args: list[str], root: str, log_path: str) -> None:
    """Body of the forked process: ``nbgrader ARGS`` in ``root``, output to ``log_path``."""
    os.setsid()  # its own session: the parent can kill it and all it started
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(root)
    os.environ.pop("NBGRADER_EXECUTION", None)  # nbgrader sets it itself where it should
    # one thread per kernel: the tests are many tiny ops, which multi-threaded torch runs several
    # times slower (and erratically) as soon as another process wants the CPU
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # nbgrader runs the `alembic` script found on PATH when it creates a gradebook: use ours
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    code = 1
    try:
        from nbgrader.apps.nbgraderapp import NbGraderApp

        NbGraderApp.launch_instance(argv=list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    except BaseException:  # noqa: BLE001 - reported in the log, seen as a failed run
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_nbgrader(args: list[str], root: Path, log_path: Path, wall_timeout: float | None = None
                 ) -> RunResult:
    """Run ``nbgrader ARGS`` in course root ``root``, logging to ``log_path``.

    Each command runs in a process of its own, forked from this one after nbgrader was imported
    here once (importing it takes seconds). At ``wall_timeout`` seconds the process is killed
    together with everything it started, its kernel included.
    """
    import nbgrader.apps.nbgraderapp  # noqa: F401 - imported once, inherited by each fork

    _known_gradebook_version()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.perf_counter()
    proc = multiprocessing.get_context("fork").Process(
        target=_child, args=(list(args), str(root), str(log_path)))
    proc.start()
    proc.join(wall_timeout)
    returncode: int | None = proc.exitcode
    if proc.is_alive():
        _kill_tree(proc.pid)
        proc.join()
        returncode = None
    seconds = time.perf_counter() - start
    return RunResult(returncode, seconds, log_path.read_text(encoding="utf-8", errors="replace"))


def generate_assignments(root: Path, assignments: list[str], log_dir: Path) -> None:
    """``nbgrader generate_assignment`` for each assignment (into ``root/exercises``)."""
    for assignment in assignments:
        log = log_dir / f"generate_assignment__{assignment}.log"
        result = run_nbgrader(["generate_assignment", assignment, "--force"], root, log)
        if result.returncode != 0:
            raise GraderError(f"nbgrader generate_assignment {assignment} failed:\n{result.log}")
