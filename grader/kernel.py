"""The grading worker: runs one student's notebook code, and the test cells' probes, for the grader.

Started by ``grader.session`` inside the sandbox (``grader.sandbox``) as
``python -m grader.kernel IN_FD OUT_FD``; it reads requests from file descriptor IN_FD and writes
one reply per request to OUT_FD. A message is a 4-byte big-endian length and that many bytes of
UTF-8 JSON. Requests (``op``):

- ``start``: ``answers`` {answer grade id: {"names": [...], "references": ["toylib.x.Y", ...]}}.
  The worker imports the libraries the tests use, records what they are (``Integrity``) and adds
  an audit hook; reply ``{"ready": true}``.
- ``run``: ``code``, ``label``: run one student cell in an IPython shell; reply its ``outputs``
  (nbformat-style, capped in size) and ``error`` (bool).
- ``define``: ``name``, ``source``: define a probe function next to the student's code.
- ``call``: ``name``, ``args``, ``kwargs`` (``toylib.exercise`` data), ``answer``: call a probe;
  reply ``value`` (data) or ``raised`` {type, message}.

Each request carries an ``id`` (random, new each time) that its reply repeats.

Every reply carries ``evidence`` (``grader.evidence``): new signs that the student's code replaced
what the tests rely on (functions of torch, toylib, builtins, IPython's input and display
machinery, trace and import hooks) or used the course's reference implementation of an answer.
The grader never takes a score from this process: test cells judge probe data in the grader's
own process. The evidence turns a submission's status into ``tampered`` or ``uses_reference``.

This process is the student's; what it reports can be forged by code written to target it. It is
a second line of defence, after the sandbox and the separation of judging from running.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import signal
import struct
import sys
import traceback
import types

from grader.evidence import Integrity, References

_type = type  # bound before any student code can replace the builtins

MAX_STREAM = 64 * 1024  # bytes kept of each of stdout and stderr per cell
MAX_TEXT = 16 * 1024  # bytes kept of one text/plain result
MAX_IMAGE = 1024 * 1024  # bytes kept of one base64 image
MAX_OUTPUTS = 50  # outputs kept per cell
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
PRELOAD = ("torch", "numpy", "matplotlib", "matplotlib.pyplot", "tqdm", "tqdm.auto")


class CappedStream(io.TextIOBase):
    """A text stream that keeps the first ``limit`` bytes and counts the rest."""

    def __init__(self, name: str, sink: list, limit: int = MAX_STREAM) -> None:
        self.name, self.sink, self.limit, self.kept, self.dropped = name, sink, limit, 0, 0

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        size = len(text.encode("utf-8", "replace"))
        if self.kept + size <= self.limit:
            self.sink.append(("stream", self.name, text))
            self.kept += size
        else:
            self.dropped += size
        return len(text)


def _keep_data(data: dict) -> dict:
    """The parts of a rich output the grader keeps: plain text and PNG/JPEG images, capped."""
    kept = {}
    text = data.get("text/plain")
    if isinstance(text, str):
        kept["text/plain"] = text[:MAX_TEXT]
    for mime in ("image/png", "image/jpeg"):
        image = data.get(mime)
        if isinstance(image, str) and len(image) <= MAX_IMAGE:
            kept[mime] = image
    return kept


def make_shell():
    """An IPython shell whose outputs land in ``shell.captured`` instead of a terminal."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs):
            self.shell.captured.append(("display_data", _keep_data(dict(data or {}))))

        def clear_output(self, wait=False):
            pass

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self.shell.captured.append(("execute_result", _keep_data(dict(format_dict or {}))))

        def finish_displayhook(self):
            pass

    class Shell(InteractiveShell):
        captured: list = []

        def enable_gui(self, gui=None):  # %matplotlib inline needs no event loop
            pass

        def _showtraceback(self, etype, evalue, stb):
            lines = [ANSI.sub("", line) for line in (stb if isinstance(stb, list) else [stb])]
            self.captured.append(("error", getattr(etype, "__name__", str(etype)),
                                  str(evalue)[:MAX_TEXT], "\n".join(lines)[-MAX_TEXT:]))

    shell = Shell.instance(display_pub_class=Publisher, displayhook_class=Hook, colors="nocolor")
    shell.captured = []
    return shell


class Worker:
    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_in, self.fd_out = fd_in, fd_out
        self.shell = None
        self.integrity: Integrity | None = None
        self.references: References | None = None
        self.probes: dict[str, types.FunctionType] = {}
        self.audit: list[str] = []  # tampering seen by the audit hook
        self.reused: list[str] = []  # reference implementations run by the answers
        self.reported: set[str] = set()
        self.grader_busy = False  # our own setprofile calls are not evidence
        self.cell = "(start)"

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

    def write(self, message: dict) -> None:
        try:
            message["evidence"] = self.new_evidence()
            body = json.dumps(message).encode("utf-8")
        except Exception:  # noqa: BLE001 - the student's code broke what the worker uses
            ident = message.get("id")
            ident = ident if _type(ident) is str and ident.isalnum() else ""
            body = (b'{"failed": "the worker could not report", "evidence": ["tampered: the '
                    b'worker\'s own code stopped working (builtins or modules replaced)"], '
                    b'"id": "' + ident.encode("ascii") + b'"}')
        data = struct.pack(">I", len(body)) + body
        while data:
            data = data[os.write(self.fd_out, data):]

    # ------------------------------------------------------------------------- evidence
    def audit_hook(self, event: str, args: tuple) -> None:
        if self.grader_busy or self.integrity is None:
            return
        if event in ("sys.settrace", "sys.setprofile"):
            self.audit.append(f"{event}() was called in cell {self.cell}")
        elif event == "sys.addaudithook":
            self.audit.append(f"an audit hook was added in cell {self.cell}")
        elif event == "object.__setattr__" and args and id(args[0]) in self.integrity.protected:
            owner = getattr(args[0], "__qualname__", type(args[0]).__name__)
            self.audit.append(f"{owner}.{args[1]} was set in cell {self.cell}")

    def new_evidence(self) -> list[str]:
        found: list[str] = []
        if self.integrity is not None:
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
        self.shell = make_shell()
        self.shell.user_ns["__name__"] = "__main__"
        self.references = References(request.get("answers", {}))
        self.integrity = Integrity(self.shell)
        sys.addaudithook(self.audit_hook)
        return {"ready": True, "python": sys.version.split()[0]}

    def run(self, request: dict) -> dict:
        self.cell = str(request.get("label", "?"))[:80]
        self.shell.captured = captured = []
        stdout, stderr = CappedStream("stdout", captured), CappedStream("stderr", captured)
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        try:
            with student_code():
                result = self.shell.run_cell(request.get("code", ""), store_history=True)
        finally:
            sys.stdout, sys.stderr = old
            self.cell = "(between cells)"
        outputs = _outputs(captured)
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
            if event == "call" and frame.f_code in forbidden:
                used.add(forbidden[frame.f_code])

        sink: list = []
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = CappedStream("stdout", sink), CappedStream("stderr", sink)
        self.cell = f"(probe {request['name']})"
        try:
            self._set_profile(profile if forbidden else None)
            try:
                with student_code():
                    value = function(*args, **kwargs)
            finally:
                self._set_profile(None)
            reply = {"value": encode(value)}
        except DataError as error:
            reply = {"raised": {"type": "DataError", "message": str(error)[:2000]}}
        except BaseException as error:  # noqa: BLE001 - the student's code raised: report it
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            reply = {"raised": {"type": type(error).__name__, "message": str(error)[:2000],
                                "traceback": text[-4000:]}}
        finally:
            sys.stdout, sys.stderr = old
            self.cell = "(between cells)"
        if used:
            self.reused.append(f"the answer ran the course's {', '.join(sorted(used))} instead "
                               "of its own code")
        return reply

    def _set_profile(self, function) -> None:
        self.grader_busy = True
        try:
            sys.setprofile(function)
        finally:
            self.grader_busy = False

    def serve(self) -> None:
        ops = {"start": self.start, "run": self.run, "define": self.define, "call": self.call}
        while True:
            request = {}
            try:
                request = self.read()
                if request is None or request.get("op") == "exit":
                    return
                op = ops.get(request.get("op"))
                if op is None:
                    reply = {"failed": f"unknown op {request.get('op')!r}"}
                else:
                    reply = op(request)
            except KeyboardInterrupt:  # arrived just after a cell ended: the reply says so
                reply = {"failed": "interrupted"}
            except Exception as error:  # noqa: BLE001 - reported to the grader
                reply = {"failed": f"{type(error).__name__}: {error}"[:2000]}
            reply["id"] = request.get("id") if isinstance(request, dict) else None
            self.write(reply)


class student_code:  # noqa: N801 - used as a context manager, reads as one
    """SIGINT (the grader's time limit) interrupts student code only, never the worker's own."""

    def __enter__(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # drop an interrupt that came too late
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def __exit__(self, *exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _outputs(captured: list) -> list[dict]:
    """nbformat outputs from what a cell printed and displayed, consecutive stream text merged."""
    outputs: list[dict] = []
    for item in captured:
        if item[0] == "stream":
            _, name, text = item
            if outputs and outputs[-1]["output_type"] == "stream" and outputs[-1]["name"] == name:
                outputs[-1]["text"] += text
            else:
                outputs.append({"output_type": "stream", "name": name, "text": text})
        elif item[0] in ("display_data", "execute_result"):
            if item[1]:
                outputs.append({"output_type": item[0], "data": item[1], "metadata": {}})
        else:
            _, ename, evalue, text = item
            outputs.append({"output_type": "error", "ename": ename, "evalue": evalue,
                            "traceback": text.splitlines()[-60:]})
    return outputs[:MAX_OUTPUTS]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m grader.kernel IN_FD OUT_FD", file=sys.stderr)
        return 2
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - input() gets EOF
    Worker(int(argv[0]), int(argv[1])).serve()
    os._exit(0)  # no atexit handlers of the student's


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
