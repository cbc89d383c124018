"""``python -m grader merge OUT1 OUT2 ... --out DIR``: join the outputs of sharded grading runs.

A class too large for one machine is graded in slices (``autograde --shard I/N``, e.g. one Slurm
array task or Kubernetes indexed-Job pod per slice); this joins their ``grades.csv`` (sorted as one
run sorts them, so the merged file has the bytes of a single run over all submissions) and copies
their ``feedback/``, ``autograded/`` and ``logs/``. A (student, assignment) row found in two
outputs, an output that is not a finished grader output, shards that do not make up one whole
(``1/N`` ... ``N/N``, each once), or outputs graded in different sandbox modes (``sandbox.json``:
a shard graded with ``--no-sandbox`` among sandboxed ones) are refused with a clear message.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

from grader.autograde import (
    COLUMNS,
    FIRST_COLUMNS,
    MARKER,
    Submission,
    csv_text,
    prepare_out,
    printable,
    write_atomic,
)
from grader.course import GraderError

COPIED = ("feedback", "autograded", "logs")


def read_grades(out: Path, malformed: list[str] | None = None) -> list[Submission]:
    """The rows of ``out/grades.csv``, written by this grader (``COLUMNS``) or by one before the
    columns after ``detail`` were added (those fields are then left empty). A row that does not
    have one field per column, with number-or-empty scores (edited by hand, or cut short), is
    left out and described in ``malformed``, never fatal."""
    path = out / "grades.csv"
    if not (out / MARKER).exists() or not path.is_file():
        raise GraderError(f"{out} is not the output of `python -m grader autograde` (no "
                          f"{MARKER} or grades.csv in it)")
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f)
        try:
            header = tuple(next(reader, ()))
        except csv.Error as err:
            raise GraderError(f"{path} is not a CSV file: {err}") from None
        if header not in (COLUMNS, FIRST_COLUMNS):
            raise GraderError(f"{path} does not start with the header {','.join(COLUMNS)}")
        rows = []
        while True:
            try:
                line = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                _malformed(malformed, path, reader.line_num, str(err))
                continue
            try:
                if len(line) != len(header):
                    raise ValueError(f"{len(line)} fields")
                student, assignment, score, max_score, status, detail = line[:6]
                later = dict(zip(header[6:], line[6:], strict=True))  # e.g. submitted_at, late
                rows.append(Submission(student, assignment, status=status, detail=detail,
                                       score=float(score) if score else None,
                                       max_score=float(max_score) if max_score else None,
                                       **later))
            except ValueError:
                _malformed(malformed, path, reader.line_num, printable(repr(line)[:200]))
    return rows


def _malformed(malformed: list[str] | None, path: Path, line: int, what: str) -> None:
    message = f"{path}, line {line}: malformed row left out ({what})"
    if malformed is None:
        raise GraderError(message)
    malformed.append(message)


def _record(path: Path, keys: dict[str, type]) -> dict | None:
    """The grader's JSON record ``path`` (None if absent), refused clearly if it is not one."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if all(isinstance(record[key], kind) for key, kind in keys.items()):
            return record
    except (ValueError, TypeError, KeyError):
        pass
    raise GraderError(f"{path} is not the grader's record (expected JSON with "
                      f"{', '.join(keys)}): was it edited by hand?")


def sandbox_mode(out: Path) -> str:
    """How ``out`` was graded (``root``, ``userns``, ``none``), from its ``sandbox.json``;
    ``unknown`` for an output made before the grader wrote that file."""
    record = _record(out / "sandbox.json", {"mode": str})
    return "unknown" if record is None else record["mode"]


def merge(outputs: list[Path], out: Path) -> int:
    """Merge the grader outputs; exit code 0 iff every merged row is graded."""
    if not outputs:
        raise GraderError("give the output folders to merge")
    shards = []
    for folder in outputs:
        shards.append(_record(folder / "shard.json", {"index": int, "count": int}))
    if any(shards):
        counts = {s["count"] for s in shards if s}
        indexes = sorted(s["index"] for s in shards if s)
        if None in shards or len(counts) != 1 or indexes != list(range(1, counts.pop() + 1)):
            found = ", ".join(f"{s['index']}/{s['count']}" if s else "unsharded" for s in shards)
            raise GraderError(f"the outputs are not the shards 1/N ... N/N of one batch, each once "
                              f"(found: {found})")
    rows: dict[tuple[str, str], Submission] = {}
    malformed: list[str] = []
    for folder in outputs:
        for row in read_grades(folder, malformed):
            if (row.student, row.assignment) in rows:
                raise GraderError(f"{row.student}/{row.assignment or '-'} is in more than one "
                                  "output: were the shards made from the same submissions?")
            rows[(row.student, row.assignment)] = row
    # a slice graded with --no-sandbox (or by an older grader) among sandboxed ones would give
    # grades that do not all come from the same protections: grade it again like the others
    modes = [(folder, sandbox_mode(folder)) for folder in outputs]
    if len({mode for _, mode in modes}) > 1:
        found = ", ".join(printable(f"{folder}: {mode}") for folder, mode in modes)
        raise GraderError(f"the outputs were graded in different sandbox modes (found: {found}); "
                          "grade again those that differ, the way the others were (none: "
                          "graded with --no-sandbox; unknown: no sandbox.json, made by an older "
                          "grader)")
    for folder in outputs:
        if folder.resolve() == out.resolve():
            raise GraderError("--out must be a new folder, not one of the outputs")
    prepare_out(out, outputs[0])
    for folder in outputs:
        for name in COPIED:
            if (folder / name).is_dir():
                shutil.copytree(folder / name, out / name, dirs_exist_ok=True)
    # the merged output says how it was graded too, when its outputs say it alike (the cgroups
    # version may differ between nodes: then there is no one record to keep)
    records = {(folder / "sandbox.json").read_bytes() if (folder / "sandbox.json").exists()
               else None for folder in outputs}
    if len(records) == 1 and None not in records:
        (out / "sandbox.json").write_bytes(records.pop())
    write_atomic(out / "grades.csv", csv_text(list(rows.values())))
    nb_bad = sum(row.status != "graded" for row in rows.values())
    for message in malformed:
        print(printable(message), file=sys.stderr)
    print(f"merged {len(outputs)} outputs: {len(rows) - nb_bad}/{len(rows)} graded"
          + (f", {len(malformed)} malformed row(s) left out" if malformed else "")
          + f"; grades in {out / 'grades.csv'}")
    return 1 if nb_bad or malformed else 0
