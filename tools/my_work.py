"""Students' own copies of the course notebooks, in the git-ignored ``my_work/`` folder.

``make lab`` runs this before it opens JupyterLab. It copies ``exercises/`` and ``lectures/``
into ``my_work/exercises/`` and ``my_work/lectures/``:

- a file that ``my_work/`` does not have yet is copied: everything on the first start, and the
  exercises or lectures that a ``git pull`` brought since then on later starts;
- a file that ``my_work/`` already has is **never overwritten** (nor deleted): it is the
  student's. If the course changed its original since it was copied, the script says so; to get
  the course's new version, rename or delete the copy and run ``make lab`` again.

So students work in ``my_work/``, and the repository's own notebooks stay as git has them:
running a lecture, saving an exercise or pressing nbgrader's *Validate* never changes a tracked
file, and ``git pull`` never conflicts with a student's work.

A copied notebook's links to files outside its folder (a lecture's ``../README.md``) are
rewritten so that they still point at the same file from ``my_work/``. ``my_work/.copied.json``
records the checksum of each original when it was copied (to tell which originals changed).

Usage (from the repository root)::

    python tools/my_work.py            # copy what is missing, say what was copied and kept
    python tools/my_work.py --dry-run  # only say what would be copied
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("exercises", "lectures")
MANIFEST = ".copied.json"
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}
# a Markdown link whose target goes up a folder: [text](../README.md#anchor)
UP_LINK = re.compile(r"\]\((\.\./[^)\s\"#]*)(#[^)\s\"]*)?\)")


@dataclass
class Report:
    copied: list[str] = field(default_factory=list)    # new in my_work/
    kept: list[str] = field(default_factory=list)      # the student's, the original unchanged
    updated: list[str] = field(default_factory=list)   # kept, but the course changed the original


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def course_files(repo: Path, folders: tuple[str, ...] = FOLDERS) -> list[Path]:
    """The files to copy, relative to ``repo``: every file under ``folders``, except hidden
    files and Jupyter's or Python's caches."""
    found = []
    for top in folders:
        root = repo / top
        if not root.is_dir():
            continue
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(names):
                if not name.startswith("."):
                    found.append((Path(folder) / name).relative_to(repo))
    return found


def relink(text: str, source: Path, dest: Path, tree: Path) -> str:
    """Rewrite the ``](../...)`` links of ``text`` (the file ``source``, copied to ``dest``) that
    leave ``tree`` (the copied folder) and name an existing file, so that they still name it."""

    def fix(match: re.Match) -> str:
        target = (source.parent / match[1]).resolve()
        if target.is_relative_to(tree.resolve()) or not target.exists():
            return match[0]
        new = Path(os.path.relpath(target, dest.parent.resolve())).as_posix()
        return f"]({new}{match[2] or ''})"

    return UP_LINK.sub(fix, text)


def read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(data, dict) else {}


def sync(repo: Path = REPO, dest: Path | None = None, dry_run: bool = False,
         folders: tuple[str, ...] = FOLDERS) -> Report:
    """Copy into ``dest`` (default ``repo/my_work``) every course file it lacks; never overwrite."""
    dest = repo / "my_work" if dest is None else dest
    manifest_path = dest / MANIFEST
    manifest = read_manifest(manifest_path)
    report = Report()
    for rel in course_files(repo, folders):
        source, target = repo / rel, dest / rel
        key = rel.as_posix()
        data = source.read_bytes()
        digest = sha256(data)
        if target.exists() or target.is_symlink():
            was = manifest.get(key)
            (report.updated if was is not None and was != digest else report.kept).append(key)
            continue
        report.copied.append(key)
        if dry_run:
            continue
        if source.suffix in (".ipynb", ".md"):
            text = data.decode("utf-8")
            data = relink(text, source, target, repo / rel.parts[0]).encode("utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "xb") as out:  # "x": fails rather than overwrite, even in a race
                out.write(data)
        except FileExistsError:
            report.copied.remove(key)
            report.kept.append(key)
            continue
        manifest[key] = digest
    if report.copied and not dry_run:
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, manifest_path)
    return report


def describe(report: Report, dest_name: str = "my_work", dry_run: bool = False) -> str:
    """What was copied and what was kept, for the terminal."""
    lines = []
    if report.copied:
        verb = "would copy" if dry_run else "copied"
        lines.append(f"{dest_name}/: {verb} {len(report.copied)} new file(s) from the course:")
        lines += [f"  + {dest_name}/{key}" for key in report.copied]
    if report.kept:
        lines.append(f"{dest_name}/: kept {len(report.kept)} file(s) you already have "
                     "(never overwritten):")
        lines += [f"  = {dest_name}/{key}" for key in report.kept]
    if report.updated:
        lines.append(f"{dest_name}/: kept {len(report.updated)} file(s) of yours whose original "
                     "the course has changed since it was copied:")
        lines += [f"  ! {dest_name}/{key}  (course version: {key})" for key in report.updated]
        lines.append("  To get the course's new version of one, rename or delete your copy "
                     "and run `make lab` again.")
    if not lines:
        lines.append(f"{dest_name}/: nothing to copy (no course files found)")
    else:
        lines.append(f"Work in {dest_name}/: git never touches it, and `git pull` then "
                     "`make lab` adds new exercises without changing yours.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="say what would be copied, copy nothing")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the course repository (default: this script's)")
    parser.add_argument("--dest", type=Path, default=None,
                        help="where the copies go (default: REPO/my_work)")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    dest = (repo / "my_work" if args.dest is None else args.dest).resolve()
    try:
        report = sync(repo, dest, dry_run=args.dry_run)
    except OSError as error:
        print(f"my_work: could not copy the course files: {error}", file=sys.stderr)
        return 1
    name = os.path.relpath(dest, repo) if dest.is_relative_to(repo) else str(dest)
    print(describe(report, Path(name).as_posix(), dry_run=args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
