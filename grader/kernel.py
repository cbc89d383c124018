"""The grading worker: runs one student's notebook code, and the test cells' probes, for the grader.

Started by ``grader.session`` inside the sandbox (``grader.sandbox``) as
``python -m grader.kernel IN_FD OUT_FD INTERRUPT_FD``; it reads requests from file descriptor
IN_FD and writes one reply per request to OUT_FD. A message is a 4-byte big-endian length and
that many bytes of UTF-8 JSON. Requests (``op``):

- ``start``: ``answers`` {answer grade id: {"names": [...], "references": ["toylib.x.Y", ...]}}.
  The worker imports the libraries the tests use, records what they are (``Integrity``) and adds
  an audit hook; reply ``{"ready": true}``.
- ``run``: ``code``, ``label``: run one student cell in an IPython shell; reply its ``outputs``
  (nbformat-style, capped in size) and ``error`` (bool).
- ``define``: ``name``, ``source``: define a probe function next to the student's code.
- ``call``: ``name``, ``args``, ``kwargs`` (``toylib.exercise`` data), ``answer``: call a probe;
  reply ``value`` (data) or ``raised`` {type, message}.
- ``check``: nothing to do but the full integrity check (the judge asks at the end of each test
  cell; a probe call's reply skips that check, which takes a few milliseconds).

Each request carries an ``id`` (random, new each time); its one reply repeats it, and says
whether the grader's time limit ``interrupted`` the student's code. **Interrupts name their
request**: to stop request R, the grader writes R's id, one line, to INTERRUPT_FD, then sends
SIGINT. The worker's handler raises ``KeyboardInterrupt`` only if R is the request it is serving
*and* the student's code is running *and* no frame of the worker's own code (this module, its
evidence checks, its profile hook) is on the stack; otherwise it does nothing (a stale
interrupt, for a request already answered) or waits (the grader sends SIGINT again every quarter
of a second until the request ends, and the worker raises at once when student code starts
under a pending interrupt). So a late interrupt can never break the worker's own protocol, and
a thread of the student's (tqdm's monitor, a DataLoader) receiving the signal changes nothing:
Python runs the handler in the main thread. A process forked by the student's code closes the
protocol's file descriptors (``os.register_at_fork``) and can never answer a request.

Every reply carries ``evidence`` (``grader.evidence``): new signs that the student's code replaced
what the tests rely on (functions of torch, toylib, builtins, IPython's input and display
machinery, import hooks, a trace function of its own left running) or used the course's reference
implementation of an answer; and ``notes``: harmless things the grader undid (a debugger or a
profiler left running, ``pdb.set_trace()``, which is skipped). Also ``dtype``, torch's default
dtype, which the grader's test code adopts, as test cells share it with the student's code in
Jupyter. The grader never takes a score from this process: test cells judge probe data in the
grader's own process. The evidence turns a submission's status into ``tampered`` or
``uses_reference``.

This process is the student's; what it reports can be forged by code written to target it. It is
a second line of defence, after the sandbox and the separation of judging from running.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import struct
import sys
import threading
import traceback
import types

import grader.evidence
from grader.evidence import REFERENCE_EVENT, Integrity, References, stop_tracers
from grader.shell import CappedStream, make_shell, outputs_of

_type = type  # bound before any student code can replace the builtins

PRELOAD = ("torch", "numpy", "matplotlib", "matplotlib.pyplot", "tqdm", "tqdm.auto", "bdb", "pdb")
# an interrupt never lands in frames of these files: the worker's own code
WORKER_FILES = frozenset({__file__, grader.evidence.__file__})


class Worker:
    def __init__(self, fd_in: int, fd_out: int, fd_interrupt: int) -> None:
        self.fd_in, self.fd_out, self.fd_interrupt = fd_in, fd_out, fd_interrupt
        self.pid = os.getpid()
        self.main_thread = threading.get_ident()
        self.shell = None
        self.integrity: Integrity | None = None
        self.references: References | None = None
        self.probes: dict[str, types.FunctionType] = {}
        self.audit: list[str] = []  # tampering seen by the audit hook
        self.reused: list[str] = []  # reference implementations run by the answers
        self.notes: list[str] = []  # harmless things the grader undid
        self.reported: set[str] = set()
        self.grader_busy = False  # our own setprofile calls are not evidence
        self.profiling = False  # our profile hook watches a probe for reference code
        self.profile_replaced = False  # ... and the student's code replaced it
        self.where = "the start-up"  # what runs now, for messages
        self.current: str | None = None  # id of the request being served
        self.stop_ids: list[str] = []  # ids the grader asked to interrupt (the latest few)
        self.pending = b""
        self.in_student = False
        self.interrupted = False  # the current request's student code got our interrupt
        self.default_dtype = None
        os.set_blocking(fd_interrupt, False)
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        """In a process forked by the student's code: the protocol is not its business."""
        for fd in (self.fd_in, self.fd_out, self.fd_interrupt):
            try:
                os.close(fd)
            except OSError:
                pass

    # ------------------------------------------------------------------------ interrupts
    def on_interrupt(self, signum, frame) -> None:
        """SIGINT: stop the student's code if the grader's interrupt names this request."""
        self._read_interrupts()
        if self.current is None or self.current not in self.stop_ids:
            return  # stale (for a request already answered) or not announced: ignored
        if not self.in_student or _in_worker_code(frame):
            return  # not now: the grader sends it again, and student code starts interrupted
        if self.interrupted and _showing_traceback(frame):
            return  # IPython is reporting our first one: a second would hide it
        self.interrupted = True
        raise KeyboardInterrupt

    def _read_interrupts(self) -> None:
        try:
            while chunk := os.read(self.fd_interrupt, 4096):
                self.pending += chunk
        except OSError:  # BlockingIOError: nothing more to read
            pass
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            self.stop_ids = [*self.stop_ids[-15:], line.decode("ascii", "replace")]

    def run_student(self, function, *args, **kwargs):
        """Call the student's code (a cell, a probe) where the grader's interrupt can reach it."""
        signal.signal(signal.SIGINT, self.on_interrupt)  # whatever an earlier cell set
        self._read_interrupts()
        if self.current in self.stop_ids:  # the time ran out before the student's code began
            self.interrupted = True
            raise KeyboardInterrupt
        self.in_student = True
        try:
            return function(*args, **kwargs)
        finally:
            self.in_student = False
            signal.signal(signal.SIGINT, self.on_interrupt)

    # -------------------------------------------------------------------------- messages
    def read(self) -> dict | None:
        head = self._read_exact(4)
        if head is None:
            return None
        (size,) = struct.unpack(">I", head)
        body = self._read_exact(size)
        return None if body is None else json.loads(body.decode("utf-8"))

    def _read_exact(self, size: int) -> bytes | None:
        chunks, left = [], size
        while left:
            chunk = os.read(self.fd_in, min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def write(self, message: dict, op: object = None) -> None:
        ident = message.get("id")
        ident = ident if _type(ident) is str and ident.isalnum() else ""
        try:
            message["evidence"] = self.new_evidence(full=op != "call")
            message["notes"] = self.new_notes()
            message["dtype"] = self.dtype()
            body = json.dumps(message).encode("utf-8")
        except Exception:  # noqa: BLE001 - the student's code broke what the worker uses
            body = (b'{"failed": "the worker could not report", "evidence": ["tampered: the '
                    b'worker\'s own code stopped working (builtins or modules replaced)"], '
                    b'"id": "' + ident.encode("ascii") + b'"}')
        data = struct.pack(">I", len(body)) + body
        while data:
            data = data[os.write(self.fd_out, data):]

    def dtype(self) -> str:
        return str(self.default_dtype()).removeprefix("torch.") if self.default_dtype else ""

    # ------------------------------------------------------------------------- evidence
    def audit_hook(self, event: str, args: tuple) -> None:
        if event == REFERENCE_EVENT:  # a reference's tripwire, in whichever thread ran it
            line = (f"the answer ran the course's {str(args[0])[:120] if args else '?'} "
                    "instead of its own code")
            if line not in self.reused:
                self.reused.append(line)
            return
        if self.grader_busy or self.integrity is None:
            return
        if event == "sys.setprofile":  # replaces the profile hook of this thread only
            if self.profiling and threading.get_ident() == self.main_thread:
                self.profile_replaced = True
        elif event == "sys.addaudithook":
            self.audit.append(f"an audit hook was added in {self.where}")
        elif event == "object.__setattr__" and args and id(args[0]) in self.integrity.protected:
            owner = getattr(args[0], "__qualname__", type(args[0]).__name__)
            self.audit.append(f"{owner}.{args[1]} was set in {self.where}")

    def new_evidence(self, full: bool = True) -> list[str]:
        """Evidence not reported yet. ``full``: also compare everything the tests rely on with
        its record (a few ms: after cells and at the end of each test cell, not after each of
        a test's probe calls; the audit hook and the reference checks run every time)."""
        found: list[str] = []
        if self.integrity is not None:
            if full:
                try:
                    found += [f"tampered: {line}" for line in self.integrity.check(self.shell)]
                except Exception:  # noqa: BLE001 - the check itself was broken
                    found.append("tampered: the worker's integrity check stopped working")
            found += [f"tampered: {line}" for line in self.audit]
        found += [f"reference: {line}" for line in self.reused]
        if self.references is not None and self.shell is not None:
            found += [f"reference: {line}" for line in self.references.bound(self.shell.user_ns)]
        fresh = [line for line in found if line not in self.reported]
        self.reported.update(fresh)
        return fresh[:20]

    def new_notes(self) -> list[str]:
        fresh = [note for note in dict.fromkeys(self.notes) if note not in self.reported]
        self.reported.update(fresh)
        self.notes.clear()
        return fresh[:20]

    def check_tracers(self, where: str) -> None:
        """Stop trace and profile functions the student's code left running: a library's (a
        debugger, a profiler) is a note, one the student wrote is tampering."""
        self.grader_busy = True
        try:
            tampered, notes = stop_tracers(where)
        finally:
            self.grader_busy = False
        self.audit += tampered
        self.notes += notes

    def skip_debugger(self, debugger, *args, **kwargs) -> None:
        """Stands for ``bdb.Bdb.set_trace`` (``pdb.set_trace()``, IPython's ``set_trace``): no
        one can type into a debugger while grading, so it is skipped, as ``breakpoint()`` is."""
        self.notes.append(f"{self.where} started a debugger ({type(debugger).__name__}"
                          ".set_trace); debuggers do not run when grading: it was skipped")

    # ---------------------------------------------------------------------------- ops
    def start(self, request: dict) -> dict:
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a library the course does not need here
                pass
        import toylib
        import toylib.exercise  # noqa: F401 - watched like the rest of toylib

        for info in sorted(os.listdir(os.path.dirname(toylib.__file__))):
            if info.endswith(".py") and not info.startswith("_"):
                importlib.import_module(f"toylib.{info[:-3]}")
        if "bdb" in sys.modules:
            worker = self
            sys.modules["bdb"].Bdb.set_trace = (
                lambda debugger, *args, **kwargs: worker.skip_debugger(debugger))
        if "torch" in sys.modules:
            self.default_dtype = sys.modules["torch"].get_default_dtype
        self.shell = make_shell()
        self.shell.user_ns["__name__"] = "__main__"
        self.references = References(request.get("answers", {}))
        self.integrity = Integrity(self.shell)
        sys.addaudithook(self.audit_hook)
        return {"ready": True, "python": sys.version.split()[0]}

    def run(self, request: dict) -> dict:
        self.where = f"cell {str(request.get('label', '?'))[:80]}"
        self.shell.captured = captured = []
        stdout, stderr = CappedStream("stdout", captured), CappedStream("stderr", captured)
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        try:
            result = self.run_student(self.shell.run_cell, request.get("code", ""),
                                      store_history=True)
        finally:
            sys.stdout, sys.stderr = old
            self.check_tracers(self.where)
            self.where = "the worker, between cells"
        outputs = outputs_of(captured)
        for stream in (stdout, stderr):
            if stream.dropped:
                outputs.append({"output_type": "stream", "name": stream.name,
                                "text": f"\n[{stream.dropped} more bytes not kept]\n"})
        return {"outputs": outputs, "error": not result.success}

    def define(self, request: dict) -> dict:
        name, source = request["name"], request["source"]
        namespace = self.shell.user_ns
        exec(compile(source, f"<probe {name}>", "exec"), namespace)  # noqa: S102 - the tests'
        self.probes[name] = namespace[name]
        return {"defined": name}

    def call(self, request: dict) -> dict:
        from toylib.exercise import DataError, decode, encode

        function = self.probes[request["name"]]
        args, kwargs = decode(request["args"]), decode(request["kwargs"])
        forbidden = self.references.codes.get(request.get("answer") or "", {})
        used: set[str] = set()

        def profile(frame, event, arg):
            try:
                if event == "call" and frame.f_code in forbidden:
                    used.add(forbidden[frame.f_code])
            except BaseException:  # noqa: BLE001 - an error here would remove this hook
                pass

        sink: list = []
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = CappedStream("stdout", sink), CappedStream("stderr", sink)
        self.where = f"your code (run by the tests' probe {request['name']})"
        self.profile_replaced = False
        answer = request.get("answer") or ""
        try:
            self._set_profile(profile if forbidden else None, answer)
            try:
                value = self.run_student(function, *args, **kwargs)
            finally:
                self._set_profile(None, answer)
            if self.profile_replaced:
                raise RuntimeError(
                    "your code replaced the grader's profile hook (sys.setprofile: cProfile, "
                    "torch.profiler, ...) while this test ran it, so the test cannot be judged: "
                    "take profilers out of your answer's code")
            reply = {"value": encode(value)}
        except DataError as error:
            reply = {"raised": {"type": "DataError", "message": str(error)[:2000]}}
        except BaseException as error:  # noqa: BLE001 - the student's code raised: report it
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            reply = {"raised": {"type": type(error).__name__, "message": str(error)[:2000],
                                "traceback": text[-4000:]}}
        finally:
            sys.stdout, sys.stderr = old
            self.check_tracers(self.where)
            self.where = "the worker, between cells"
        if used:
            self.reused.append(f"the answer ran the course's {', '.join(sorted(used))} instead "
                               "of its own code")
        return reply

    def _set_profile(self, function, answer: str) -> None:
        """The reference watch: a profile hook on this thread and on every thread started
        while it is on, and tripwires in the answer's reference functions (``References.arm``),
        which also hold in threads started before the test and for objects found at run time."""
        self.grader_busy = True
        try:
            self.profiling = function is not None
            sys.setprofile(function)
            threading.setprofile(function)
            if function is not None:
                self.references.arm(answer)
            else:
                self.references.disarm(answer)
        finally:
            self.grader_busy = False

    def serve(self) -> None:
        ops = {"start": self.start, "run": self.run, "define": self.define, "call": self.call,
               "check": lambda request: {"checked": True}}
        while True:
            if os.getpid() != self.pid:  # a fork of the student's that returned here
                os._exit(0)
            request = self.read()
            if request is None or request.get("op") == "exit":
                return
            ident = request.get("id")
            self.current = ident if _type(ident) is str and ident.isalnum() else None
            self.interrupted = False
            try:
                op = ops.get(request.get("op"))
                if op is None:
                    reply = {"failed": f"unknown op {request.get('op')!r}"}
                else:
                    reply = op(request)
            except KeyboardInterrupt:  # ours, raised while the student's code ran
                reply = {"failed": "interrupted"}
            except Exception as error:  # noqa: BLE001 - reported to the grader
                reply = {"failed": f"{type(error).__name__}: {error}"[:2000]}
            reply["interrupted"] = self.interrupted
            reply["id"] = self.current
            self.current = None  # from now on an interrupt for this request is stale
            if os.getpid() != self.pid:
                os._exit(0)
            self.write(reply, request.get("op"))


def _in_worker_code(frame) -> bool:
    """Is the worker's own code on the stack above the student's (``Worker.run_student``)?"""
    top = True
    while frame is not None:
        code = frame.f_code
        if not top and code is _RUN_STUDENT:
            return False
        if code.co_filename in WORKER_FILES:
            return True
        top, frame = False, frame.f_back
    return True


_RUN_STUDENT = Worker.run_student.__code__


def _showing_traceback(frame) -> bool:
    """Is IPython formatting an exception's traceback (``showtraceback``) on this stack?"""
    while frame is not None:
        if frame.f_code.co_name == "showtraceback" and "IPython" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m grader.kernel IN_FD OUT_FD INTERRUPT_FD", file=sys.stderr)
        return 2
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - input() gets EOF
    worker = Worker(int(argv[0]), int(argv[1]), int(argv[2]))
    signal.signal(signal.SIGINT, worker.on_interrupt)
    worker.serve()
    os._exit(0)  # no atexit handlers of the student's


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
