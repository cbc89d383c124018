"""CPU seconds used by a worker and everything it started, read from ``/proc`` by the grader.

The grader's time limits count what the submission used, not what the machine could give it: on
a machine where other jobs keep every core busy, a cell that needs 2 CPU seconds takes 6 seconds
of wall-clock time or more, and a wall-clock limit would turn that load into lost points. So a
cell's or a test's limit is in CPU seconds of the submission's own processes (``CpuMeter``), with
a wall-clock backstop several times larger for code that sleeps (``grader.session``).

The reading never asks the student's process anything: it adds up, from the host's ``/proc``,
``utime + stime`` of every live process of the worker's tree (the sandbox's ``unshare``, the
namespace's init, the worker, what the worker started, daemons included, as orphans are
reparented to the init inside the pid namespace) and ``cutime + cstime`` (what they reaped).
Reading ``/proc/<pid>/stat`` of two processes is cheap; walking every process of the host is
not (about 2 ms per 100 processes), so a request is measured cheaply at its start and end and
walked only while it runs long (``grader.session`` polls every 0.2 s):

- ``quick()``: the worker's and the init's own times plus what they reaped;
- ``tree()``: ``quick()`` plus every other live descendant; the descendants seen by the last
  walk are remembered, so that a request that outlives a poll is charged only for what its
  descendants used since the request began (as far as the last walk tells).

A process whose parent ignores ``SIGCHLD`` is reaped by the kernel without adding to anyone's
``cutime``: its time is lost to the meter once it ends, and only the wall-clock backstop stops
code that hides its work that way. Linux only; elsewhere every reading is 0 and only the wall
clock limits a request.
"""

from __future__ import annotations

import os

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, CPU seconds of reaped children) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(b")") + 2:].split()  # the name may hold spaces and parentheses
    try:
        ppid, utime, stime, cutime, cstime = (int(fields[i]) for i in (1, 11, 12, 13, 14))
    except (IndexError, ValueError):
        return None
    return ppid, (utime + stime) / TICK, (cutime + cstime) / TICK


def descendants(root: int) -> dict[int, float]:
    """{pid: own + reaped CPU seconds} of every live process below ``root`` (not ``root``)."""
    parents: dict[int, list[int]] = {}
    seconds: dict[int, float] = {}
    try:
        entries = os.scandir("/proc")
    except OSError:
        return {}
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            stat = read_stat(int(entry.name))
            if stat is not None:
                parents.setdefault(stat[0], []).append(int(entry.name))
                seconds[int(entry.name)] = stat[1] + stat[2]
    found: dict[int, float] = {}
    todo = list(parents.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found and pid in seconds:
            found[pid] = seconds[pid]
            todo += parents.get(pid, [])
    return found


class CpuMeter:
    """CPU seconds used by the process tree below ``root`` (the process the grader started).

    ``fixed`` are the pids read by ``quick()`` (the worker, and in the sandbox its init)."""

    def __init__(self, root: int, fixed: list[int]) -> None:
        self.root, self.fixed = root, list(fixed)
        self.seen: dict[int, float] = {}  # other descendants at the last walk: their seconds

    def quick(self) -> float:
        total = 0.0
        for pid in self.fixed:
            stat = read_stat(pid)
            if stat is not None:
                total += stat[1] + stat[2]
        return total

    def start(self) -> tuple[float, float]:
        """A reading to measure a request from: (quick(), seconds of the descendants seen)."""
        return self.quick(), sum(self.seen.values())

    def since(self, start: tuple[float, float], walk: bool) -> float:
        """CPU seconds used since ``start``; ``walk``: count live descendants too (slower)."""
        if not walk:
            return max(self.quick() - start[0], 0.0)
        others = {pid: s for pid, s in descendants(self.root).items() if pid not in self.fixed}
        used = self.quick() + sum(others.values()) - start[0] - start[1]
        self.seen = others
        return max(used, 0.0)
