"""One submission's worker, seen from the grader: start it in the sandbox, send it requests, and
enforce the time limits.

The worker (``grader.kernel``) runs the student's cells and the test cells' probes; this module
runs in the grader's own process and trusts nothing the worker says beyond the plain data it
asked for.

**Limits measure the submission, not the machine.** Each request has a limit in CPU seconds
used by the worker and everything it started (``grader.cpu_time``; a busy machine slows a cell
down but does not make it use more CPU), and a wall-clock backstop ``WALL_FACTOR`` times larger
for code that sleeps. Past either, the grader *interrupts that request*: it writes the request's
id to the worker's interrupt pipe and sends SIGINT to the worker's main thread, again every
``RESEND`` seconds, until the reply comes. The worker raises ``KeyboardInterrupt`` in the
student's code only for the request the interrupt names, and never inside its own code (see
``grader.kernel``), so an interrupt that arrives late is ignored instead of breaking the
protocol. If the student's code ignores the interrupt (a loop that swallows it) for
``GRACE_CPU`` CPU seconds or ``GRACE_WALL`` seconds, the worker is killed with everything it
started: the request ran past its time limit.

**Replies.** Each request has a random id that its one reply repeats. A reply for an earlier
request (a race that the protocol should not produce, kept harmless anyway) is dropped; one that
answers no request the grader sent was written by the student's code into the worker's reply
pipe: it ends the worker and counts as tampering. So does a reply that is not a well-formed
message, or larger than ``MAX_REPLY``. What the worker printed outside the cells' capture
(C-level writes to its stdout/stderr) is kept, capped, for the log.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.course import REPO_ROOT
from grader.cpu_time import CpuMeter
from grader.sandbox import WORKDIR, Limits, Sandbox
from toylib.exercise import WorkerGone

MAX_REPLY = 32 * 2**20
WALL_FACTOR = 5  # the wall-clock backstop of a request: this many times its CPU limit
POLL = 0.2  # seconds between two readings of the CPU used while a request runs
RESEND = 0.25  # seconds between two SIGINTs while an interrupted request has not answered
GRACE_CPU = 3.0  # CPU seconds the student's code may go on after the interrupt ...
GRACE_WALL = 15.0  # ... or wall-clock seconds, before the worker is killed
START_CPU = 120.0  # CPU seconds for the worker's start-up (imports torch, IPython, toylib)
LOG_LIMIT = 64 * 1024


def worker_env(home: str) -> dict[str, str]:
    """The complete environment of a worker: nothing of the instructor's is passed on."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin",
                                 "/bin"]),
        "HOME": home,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONBREAKPOINT": "0",  # a breakpoint() left in an answer does nothing
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "NBGRADER_EXECUTION": "autograde",  # fast mode, and demos skip themselves
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
    }


@dataclass
class Reply:
    data: dict
    seconds: float  # wall-clock
    interrupted: bool = False  # the time limit passed and the interrupt stopped the student's code
    cpu: float = 0.0  # CPU seconds the worker and its processes used meanwhile


@dataclass
class Session:
    sandbox: Sandbox
    slot: int
    limits: Limits
    files: Path | None = None
    command: tuple[str, ...] = (sys.executable, "-P", "-m", "grader.kernel")  # + the three fds
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the worker undid, harmlessly
    gone: str | None = None  # why the worker is no longer there
    out_of_time: bool = False  # it was killed for running past a time limit
    log: bytearray = field(default_factory=bytearray)
    _dropped: int = 0

    def start(self, answers: dict) -> None:
        to_worker, self._send_fd = os.pipe()
        self._recv_fd, from_worker = os.pipe()
        interrupts, self._interrupt_fd = os.pipe()
        os.set_blocking(self._interrupt_fd, False)  # never wait on a worker that stopped reading
        self._asked: set[str] = set()
        self.stale = 0  # replies to earlier requests, dropped
        self.default_dtype = "float32"
        home = WORKDIR if self.sandbox.mode != "none" else "."
        argv = [*self.command, str(to_worker), str(from_worker), str(interrupts)]
        self.proc = self.sandbox.popen(
            argv, env=worker_env(home), read_only=[REPO_ROOT / "toylib", REPO_ROOT / "grader"],
            files=self.files, slot=self.slot, limits=self.limits,
            pass_fds=(to_worker, from_worker, interrupts), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        for fd in (to_worker, from_worker, interrupts):
            os.close(fd)
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()
        self.meter: CpuMeter = self.sandbox.meter(self.proc)
        self._worker_pid = self.meter.fixed[0] if self.meter.fixed else None
        reply = self.request({"op": "start", "answers": answers}, START_CPU, "its start-up")
        if not reply.data.get("ready"):
            self.stop(f"the worker did not start: {reply.data.get('failed', '?')}")
            raise WorkerGone(self.gone)

    def _drain_output(self) -> None:
        stream = self.proc.stdout
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            room = LOG_LIMIT - len(self.log)
            self.log += chunk[:max(room, 0)]
            self._dropped += max(len(chunk) - max(room, 0), 0)

    def request(self, message: dict, cpu: float, what: str = "a request",
                wall: float | None = None) -> Reply:
        """Send one request and wait for its reply (``WorkerGone`` if the worker is gone).

        ``cpu``: its limit in CPU seconds of the worker's processes; ``wall``: its wall-clock
        backstop (default ``WALL_FACTOR * cpu``). ``what`` names the request in messages:
        "while running cell toy_net"."""
        if self.gone:
            raise WorkerGone(self.gone)
        wall = WALL_FACTOR * cpu if wall is None else wall
        if not self.meter.fixed:  # the worker was not found yet (a very slow start): look again
            self.meter = self.sandbox.meter(self.proc, timeout=1.0)
            self._worker_pid = self.meter.fixed[0] if self.meter.fixed else None
        start, used = time.monotonic(), self.meter.start()
        ident = self.last_id = secrets.token_hex(8)
        self._asked.add(ident)
        body = json.dumps(dict(message, id=ident)).encode("utf-8")
        try:
            self._write(struct.pack(">I", len(body)) + body, max(wall, 30.0))
        except (BrokenPipeError, TimeoutError):
            self.stop(self._death(f"before running {what}"))
            raise WorkerGone(self.gone) from None
        interrupted_at: tuple[float, float] | None = None  # (wall, CPU) of the first interrupt
        while True:
            ready, _, _ = select.select([self._recv_fd], [], [],
                                        POLL if interrupted_at is None else RESEND)
            if ready:
                data = self._read_reply(what)
                if data.get("id") == ident:
                    break
                if isinstance(data.get("id"), str) and data["id"] in self._asked:
                    self.stale += 1  # a late reply to an earlier request: not this one's
                    continue
                self.evidence.append("tampered: the worker's reply pipe carried a reply to no "
                                     "request (written there by the student's code); it "
                                     "answered out of turn")
                self.stop("it answered out of turn")
                raise WorkerGone(self.gone)
            seconds, spent = time.monotonic() - start, self.meter.since(used, walk=True)
            if interrupted_at is None:
                if spent > cpu or seconds > wall:
                    interrupted_at = (seconds, spent)
                    self._interrupt(ident)
            elif (spent - interrupted_at[1] > GRACE_CPU
                  or seconds - interrupted_at[0] > GRACE_WALL):
                self.out_of_time = True
                self.stop(f"{what} ran past the time limit and ignored the interrupt")
                raise WorkerGone(self.gone)
            else:
                self._interrupt(ident)  # again: the worker may have been in its own code
        for line in data.get("evidence", []) if isinstance(data.get("evidence"), list) else []:
            if isinstance(line, str) and line not in self.evidence:
                self.evidence.append(line[:300])
        for line in data.get("notes", []) if isinstance(data.get("notes"), list) else []:
            if isinstance(line, str) and line[:300] not in self.notes:
                self.notes.append(line[:300])
        if data.get("dtype") in ("float32", "float64"):
            self.default_dtype = data["dtype"]
        return Reply(data, time.monotonic() - start, data.get("interrupted") is True,
                     self.meter.since(used, walk=interrupted_at is not None or
                                      time.monotonic() - start > POLL))

    def _write(self, data: bytes, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while data:
            _, ready, _ = select.select([], [self._send_fd], [], max(deadline - time.perf_counter(),
                                                                   0))
            if not ready:
                raise TimeoutError
            data = data[os.write(self._send_fd, data[:65536]):]

    def _read_reply(self, what: str) -> dict:
        head = self._read_exact(4, what)
        (size,) = struct.unpack(">I", head)
        if size > MAX_REPLY:
            self.evidence.append(f"tampered: the worker sent a reply of {size} bytes")
            self.stop("it sent an oversized reply")
            raise WorkerGone(self.gone)
        body = self._read_exact(size, what)
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            self.evidence.append("tampered: the worker sent a malformed reply")
            self.stop("it sent a malformed reply")
            raise WorkerGone(self.gone)
        return data

    def _read_exact(self, size: int, what: str) -> bytes:
        chunks, left = [], size
        while left:
            ready, _, _ = select.select([self._recv_fd], [], [], 30.0)
            chunk = os.read(self._recv_fd, min(left, 1 << 20)) if ready else b""
            if not chunk:
                self.stop(self._death(f"while running {what}"))
                raise WorkerGone(self.gone)
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _interrupt(self, ident: str) -> None:
        """Ask the worker to stop request ``ident``: its id on the interrupt pipe, then SIGINT to
        the worker's main thread (where Python runs signal handlers and sleeps are woken)."""
        try:
            os.write(self._interrupt_fd, ident.encode("ascii") + b"\n")
        except OSError:  # full (the worker stopped reading) or closed: SIGINT alone then
            pass
        pid = self._worker_pid
        if pid is None:
            return
        try:
            if _tgkill(pid, pid, signal.SIGINT) != 0:
                os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    def _death(self, when: str) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return f"the worker stopped answering {when}"
        if code is not None and code < 0:
            return f"the kernel died {when} (signal {signal.Signals(-code).name})"
        return f"the kernel died {when} (exit code {code})"

    def stop(self, reason: str | None = None) -> None:
        """End the worker and everything it started (idempotent)."""
        if reason and not self.gone:
            self.gone = reason
        if getattr(self, "proc", None) is not None:
            self.sandbox.kill(self.proc)
            self._drain.join(timeout=5)
        for fd in ("_send_fd", "_recv_fd", "_interrupt_fd"):
            if getattr(self, fd, None) is not None:
                try:
                    os.close(getattr(self, fd))
                except OSError:
                    pass
                setattr(self, fd, None)
        self.gone = self.gone or "stopped"

    def output_log(self) -> str:
        text = self.log.decode("utf-8", "replace")
        if self._dropped:
            text += f"\n[{self._dropped} more bytes not kept]\n"
        return text


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _tgkill(pid: int, tid: int, signum: int) -> int:
    """Send ``signum`` to thread ``tid`` of process ``pid`` (0 on success, -1 where not
    available: the caller then signals the process)."""
    function = getattr(_LIBC, "tgkill", None)
    if function is None:
        return -1
    if function(pid, tid, signum) != 0:
        if ctypes.get_errno() == 3:  # ESRCH
            raise ProcessLookupError(pid)
        return -1
    return 0
