"""One submission's worker, seen from the grader: start it in the sandbox, send it requests, and
enforce the time limits.

The worker (``grader.kernel``) runs the student's cells and the test cells' probes; this module
runs in the grader's own process and trusts nothing the worker says beyond the plain data it
asked for. Each request has a deadline: past it the worker gets SIGINT (a ``KeyboardInterrupt``
in the student's code) and, if it does not answer within a grace period (a loop that swallows
the interrupt), it is killed with everything it started. A reply that is not a well-formed
message, or larger than ``MAX_REPLY``, ends the worker too. What the worker printed outside the
cells' capture (C-level writes to its stdout/stderr) is kept, capped, for the log. Each request
has a random id that its reply must repeat: a reply written early, by the student's code, into
the worker's reply pipe ends the worker and counts as tampering.
"""

from __future__ import annotations

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
from grader.sandbox import WORKDIR, Limits, Sandbox
from toylib.exercise import WorkerGone

MAX_REPLY = 32 * 2**20
GRACE = 5.0  # seconds between SIGINT and SIGKILL
START_TIMEOUT = 120.0
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
    seconds: float
    interrupted: bool = False  # the deadline passed and SIGINT stopped the student's code


@dataclass
class Session:
    sandbox: Sandbox
    slot: int
    limits: Limits
    files: Path | None = None
    evidence: list[str] = field(default_factory=list)
    gone: str | None = None  # why the worker is no longer there
    log: bytearray = field(default_factory=bytearray)
    _dropped: int = 0

    def start(self, answers: dict) -> None:
        to_worker, self._send_fd = os.pipe()
        self._recv_fd, from_worker = os.pipe()
        home = WORKDIR if self.sandbox.mode != "none" else "."
        argv = [sys.executable, "-P", "-m", "grader.kernel", str(to_worker), str(from_worker)]
        self.proc = self.sandbox.popen(
            argv, env=worker_env(home), read_only=[REPO_ROOT / "toylib", REPO_ROOT / "grader"],
            files=self.files, slot=self.slot, limits=self.limits,
            pass_fds=(to_worker, from_worker), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.close(to_worker)
        os.close(from_worker)
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()
        reply = self.request({"op": "start", "answers": answers}, START_TIMEOUT,
                             "its start-up")
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

    def request(self, message: dict, timeout: float, what: str = "a request") -> Reply:
        """Send one request and wait for its reply (``WorkerGone`` if the worker is gone).

        ``what`` names the request in messages: "while running cell toy_net"."""
        if self.gone:
            raise WorkerGone(self.gone)
        start = time.perf_counter()
        message = dict(message, id=secrets.token_hex(8))
        body = json.dumps(message).encode("utf-8")
        try:
            self._write(struct.pack(">I", len(body)) + body, timeout)
        except (BrokenPipeError, TimeoutError):
            self.stop(self._death(f"before running {what}"))
            raise WorkerGone(self.gone) from None
        interrupted = False
        deadline = start + timeout
        while True:
            ready, _, _ = select.select([self._recv_fd], [], [], max(deadline - time.perf_counter(),
                                                                   0))
            if ready:
                break
            if interrupted:
                self.stop(f"{what} ran past the {timeout:g} s limit and ignored the interrupt")
                raise WorkerGone(self.gone)
            interrupted = True
            self._interrupt()
            deadline = time.perf_counter() + GRACE
        data = self._read_reply(what)
        if data.get("id") != message["id"]:  # written to the reply pipe by the student's code?
            self.evidence.append("tampered: the worker answered a request out of turn (a reply "
                                 "written by the student's code?)")
            self.stop("it answered out of turn")
            raise WorkerGone(self.gone)
        for line in data.get("evidence", []) if isinstance(data.get("evidence"), list) else []:
            if isinstance(line, str) and line not in self.evidence:
                self.evidence.append(line[:300])
        return Reply(data, time.perf_counter() - start, interrupted)

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

    def _interrupt(self) -> None:
        pid = self.sandbox.worker_pid(self.proc)
        if pid is not None:
            try:
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
        for fd in ("_send_fd", "_recv_fd"):
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
