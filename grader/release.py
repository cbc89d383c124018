"""``python -m grader release [--check]``: regenerate ``exercises/`` from ``solutions/``.

Every assignment of ``solutions/`` goes through ``nbgrader generate_assignment`` in a temporary
course root (solutions are cleared, hidden tests removed, cells locked, outputs cleared); the
released folders then replace those in ``exercises/``. With ``--check`` nothing is written: the
release is built in the temporary folder and compared byte for byte with ``exercises/``.
"""

from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path

from grader.course import (
    EXERCISES_DIR,
    IGNORED_NAMES,
    REPO_ROOT,
    generate_assignments,
    list_assignments,
    make_course_root,
)

SYNC_HINT = "run `python -m grader release` to regenerate exercises/ from solutions/"


def build_release(tmp: Path) -> tuple[Path, list[str]]:
    """Generate every assignment in a course root under ``tmp``; return (release dir, names)."""
    assignments = list(list_assignments())
    root = tmp / "course"
    make_course_root(root)
    generate_assignments(root, assignments, tmp / "logs")
    return root / "exercises", assignments


def _files(folder: Path) -> set[str]:
    """Relative paths of the files under ``folder``, hidden files and caches left out."""
    if not folder.is_dir():
        return set()
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                   for part in p.relative_to(folder).parts)
    }


def differences(built: Path, assignments: list[str]) -> list[str]:
    """Lines describing how ``exercises/`` differs from the freshly built release."""
    problems = []
    for assignment in assignments:
        new, old = built / assignment, EXERCISES_DIR / assignment
        new_files, old_files = _files(new), _files(old)
        for name in sorted(new_files | old_files):
            shown = f"exercises/{assignment}/{name}"
            if name not in old_files:
                problems.append(f"{shown} is missing")
            elif name not in new_files:
                problems.append(f"{shown} is not generated from solutions/ (stale file)")
            elif not filecmp.cmp(new / name, old / name, shallow=False):
                problems.append(f"{shown} differs from what solutions/ generates")
    problems += [f"exercises/{name}/ has no source in solutions/ (stale)"
                 for name in stale_folders(assignments)]
    return problems


def stale_folders(assignments: list[str]) -> list[str]:
    """Folders of ``exercises/`` that no assignment of ``solutions/`` generates."""
    if not EXERCISES_DIR.is_dir():
        return []
    return [folder.name for folder in sorted(EXERCISES_DIR.iterdir())
            if folder.is_dir() and folder.name[0] != "." and folder.name not in assignments]


def release(check: bool = False) -> int:
    """Regenerate (or, with ``check``, verify) ``exercises/``; return the exit code."""
    with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp:
        built, assignments = build_release(Path(tmp))
        if check:
            problems = differences(built, assignments)
            if problems:
                print("exercises/ is out of sync with solutions/:")
                for line in problems:
                    print(f"  {line}")
                print(SYNC_HINT)
                return 1
            print(f"exercises/ is in sync with solutions/ ({', '.join(assignments)})")
            return 0
        EXERCISES_DIR.mkdir(exist_ok=True)
        for assignment in assignments:
            target = EXERCISES_DIR / assignment
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(built / assignment, target, ignore=IGNORED_NAMES,
                            copy_function=shutil.copyfile)
            print(f"released {target.relative_to(REPO_ROOT)}/")
        for name in stale_folders(assignments):
            print(f"warning: exercises/{name}/ has no source in solutions/ (stale); remove it "
                  "by hand if it is not wanted")
    return 0
