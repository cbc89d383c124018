"""A cgroup per grading worker: CPU, memory and process limits that hold for all it starts.

rlimits count per process: ten processes that each call ``os.setsid()`` and spin get ten times
the CPU, and memory held in shared memory or ``memfd`` files is charged to no process's address
space. A control group counts everything its processes do, whoever started them: a CPU quota (one
core by default, so one submission cannot slow the one graded beside it), a memory limit that
includes shared memory, memfd and tmpfs pages, and a process limit. A worker and everything it
starts are put in the cgroup from their first instruction (a shell writes its own pid into the
cgroup, then execs the worker's command), and killing the cgroup reaches every process in it.

Version 2 (one unified tree) is used where the grader's own cgroup has the cpu, memory and pids
controllers delegated to it (e.g. ``systemd-run --scope -p Delegate=yes``, or root in a
container whose cgroup namespace starts there); version 1 where the grader can make folders in
the cpu, memory and pids hierarchies (root on a v1 machine). Elsewhere (a hosted CI runner, an
ordinary account on v1) there is no cgroup, and ``Cgroups.detect`` says why: the grader then
keeps the rlimits alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = ("cpu", "memory", "pids")
PERIOD_US = 100_000  # the CPU quota's period


def _mounts() -> list[tuple[str, str, list[str]]]:
    """(mount point, file system type, super options) of every cgroup file system."""
    found = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            tail = fields[fields.index("-") + 1:]
            if tail[0] in ("cgroup", "cgroup2"):
                found.append((fields[4], tail[0], tail[2].split(",")))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under "" its v2 path."""
    paths = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(",") if names else [""]:
                paths[name] = path
    return paths


@dataclass
class Cgroups:
    """Where this machine lets the grader make a cgroup per worker."""

    version: int | None  # 2, 1, or None: no cgroups here (``reason`` says why)
    bases: dict[str, Path] = field(default_factory=dict)  # controller (v2: "") -> parent folder
    reason: str = ""

    @classmethod
    def detect(cls) -> Cgroups:
        mounts, own = _mounts(), _own_paths()
        reasons = []
        for mount, kind, _ in mounts:
            if kind == "cgroup2" and "" in own:
                base = Path(mount) / own[""].lstrip("/")
                try:
                    enabled = (base / "cgroup.subtree_control").read_text().split()
                except OSError as error:
                    reasons.append(f"v2: {error.strerror}")
                    continue
                missing = [c for c in CONTROLLERS if c not in enabled]
                if missing:
                    reasons.append(f"v2: the controllers {', '.join(missing)} are not delegated "
                                   f"to {own['']} (run the grader under systemd-run --scope -p "
                                   "Delegate=yes)")
                elif (probe := cls._probe({"": base})) is None:
                    return cls(2, {"": base})
                else:
                    reasons.append(f"v2: {probe}")
        bases = {}
        for controller in CONTROLLERS:
            mount = next((m for m, kind, options in mounts
                          if kind == "cgroup" and controller in options), None)
            if mount is None or controller not in own:
                break
            bases[controller] = Path(mount) / own[controller].lstrip("/")
        if len(bases) == len(CONTROLLERS):
            if (probe := cls._probe(bases)) is None:
                return cls(1, bases)
            reasons.append(f"v1: {probe}")
        elif not reasons:
            reasons.append("no cgroup file system with the cpu, memory and pids controllers")
        return cls(None, reason="; ".join(reasons))

    @staticmethod
    def _probe(bases: dict[str, Path]) -> str | None:
        """None if a folder can be made (and removed) in every base, else why not."""
        made = []
        try:
            for base in bases.values():
                folder = base / f"grader-probe-{os.getpid()}"
                folder.mkdir()
                made.append(folder)
        except OSError as error:
            return f"cannot make a cgroup in {base}: {error.strerror}"
        finally:
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        return None

    def describe(self, cpu_cores: float, memory_mb: int, processes: int) -> str:
        if self.version is None:
            return f"cgroups: none here ({self.reason}); limits are the per-process rlimits only"
        return (f"cgroups: v{self.version}, one per worker: {cpu_cores:g} CPU core(s), "
                f"{memory_mb} MB of memory (shared memory, memfd and tmpfs included), "
                f"{processes} processes; everything in it is killed with the worker")

    def cleanup(self, prefix: str) -> int:
        """Kill and remove the cgroups whose names start with ``prefix`` (those of a grading
        process that was killed before it could remove them); returns how many."""
        if self.version is None:
            return 0
        first = next(iter(self.bases.values()))
        names = sorted(p.name for p in first.glob(f"{prefix}*") if p.is_dir())
        for name in names:
            WorkerCgroup({k: b / name for k, b in self.bases.items()}, self.version).remove()
        return len(names)

    def create(self, name: str, cpu_cores: float, memory_mb: int,
               processes: int) -> WorkerCgroup | None:
        """A new cgroup with these limits, or None where there are no cgroups."""
        if self.version is None:
            return None
        group = WorkerCgroup({key: base / name for key, base in self.bases.items()},
                             self.version)
        try:
            for folder in group.folders.values():
                folder.mkdir()
            group.limit(cpu_cores, memory_mb << 20, processes)
        except OSError:
            group.remove()
            raise
        return group


@dataclass
class WorkerCgroup:
    folders: dict[str, Path]  # controller (v2: "") -> this worker's folder
    version: int

    def limit(self, cpu_cores: float, memory_bytes: int, processes: int) -> None:
        quota = max(1000, int(cpu_cores * PERIOD_US))
        if self.version == 2:
            folder = self.folders[""]
            (folder / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            (folder / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):  # absent without swap accounting
                (folder / "memory.swap.max").write_text("0")
            (folder / "pids.max").write_text(str(processes))
            return
        (self.folders["cpu"] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (self.folders["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
        (self.folders["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
        with contextlib.suppress(OSError):  # absent without swap accounting
            (self.folders["memory"] / "memory.memsw.limit_in_bytes").write_text(
                str(memory_bytes))
        (self.folders["pids"] / "pids.max").write_text(str(processes))

    def procs_files(self) -> list[str]:
        """The files a process writes its pid into to join this cgroup."""
        return [str(folder / "cgroup.procs") for folder in self.folders.values()]

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run so that its first process is in this cgroup before it runs anything."""
        joins = "".join(f'echo $$ > "${i + 1}" && ' for i in range(len(self.folders)))
        files = self.procs_files()
        return ["/bin/sh", "-c", f'{joins}shift {len(files)} && exec "$@"', "sh", *files, *argv]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for name in self.procs_files():
            with contextlib.suppress(OSError):
                found |= {int(p) for p in Path(name).read_text().split()}
        return found

    def memory_peak(self) -> int | None:
        """The most memory the cgroup held, in bytes (None if the kernel does not say)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        folder = self.folders["" if self.version == 2 else "memory"]
        try:
            return int((folder / name).read_text())
        except (OSError, ValueError):
            return None

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup until it is empty (or ``timeout`` passes)."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.folders[""] / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left and remove the folders. Idempotent."""
        self.kill()
        for folder in self.folders.values():
            for _ in range(100):  # a killed process may take a moment to leave
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY:
                        break
                    time.sleep(0.01)
