"""The grader's protocol with its worker (grader/session.py, grader/kernel.py), races driven on
purpose: an interrupt that lands just after its reply, a reply that lands just after the time
limit, interrupts that land inside the worker's own code (its profile hook), helper threads that
receive the signal, a fork of the student's that returns into the worker's loop, a late reply to
an earlier request. None of them may be taken for tampering; a request past its limit ends
interrupted (a timeout), never ``tampered``. Limits count CPU seconds, so sleeping is not
charged, and the processes a cell starts are.

Each test starts its own worker (about 3 s: torch and IPython are imported), in the sandbox where
the OS gives one, else without it.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time

import pytest

import grader.session as session_module
from grader.sandbox import Limits, SandboxUnavailable, detect
from grader.session import Session
from toylib.exercise import WorkerGone, decode, encode

TRACKED_ANSWER = {"layer": {"names": ["CausalConv1d"],
                            "references": ["toylib.layers.CausalConv1d"]}}


def sandbox():
    try:
        return detect()
    except SandboxUnavailable:
        return detect(no_sandbox=True)


@pytest.fixture
def worker():
    session = Session(sandbox(), 5, Limits())
    session.start(TRACKED_ANSWER)
    yield session
    session.stop()


def run(session: Session, code: str, cpu: float = 30.0, wall: float | None = None):
    reply = session.request({"op": "run", "code": textwrap.dedent(code), "label": "cell"}, cpu,
                            "cell", wall)
    return reply, "".join(o.get("text", "") for o in reply.data.get("outputs", [])
                          if o.get("output_type") == "stream")


def call(session: Session, name: str, *args, cpu: float = 30.0, answer: str | None = None):
    reply = session.request({"op": "call", "name": name, "args": encode(args),
                             "kwargs": encode({}), "answer": answer}, cpu, f"probe {name}")
    return reply, decode(reply.data["value"]) if "value" in reply.data else reply.data


def define(session: Session, source: str) -> None:
    source = textwrap.dedent(source)
    name = source.split("def ", 1)[1].split("(", 1)[0]
    reply = session.request({"op": "define", "name": name, "source": source}, 30.0, "define")
    assert reply.data.get("defined") == name, reply.data


def clean(session: Session) -> None:
    assert session.evidence == [] and session.gone is None, (session.evidence, session.gone)


HELPER_THREAD = """
    import threading, time
    from tqdm.auto import tqdm
    for _ in tqdm(range(3), mininterval=0):  # tqdm's monitor thread: SIGINT may reach it
        pass
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
"""


def test_an_interrupt_after_its_reply_is_ignored(worker) -> None:
    """The grader's time limit passes just as a cell ends: its interrupt, and a bare SIGINT,
    reach the worker between requests, with helper threads running; the next request and
    probe run to their end, and nothing is called tampering."""
    run(worker, HELPER_THREAD)
    for _ in range(3):
        worker._interrupt(worker.last_id)  # names the request just answered
        os.kill(worker._worker_pid, signal.SIGINT)  # and one that names nothing
        time.sleep(0.2)
        reply, out = run(worker, "total = sum(range(2_000_000))\nprint(total)")
        assert (reply.interrupted, out) == (False, "1999999000000\n"), reply.data
    define(worker, "def add(a, b):\n    return a + b\n")
    worker._interrupt(worker.last_id)
    reply, value = call(worker, "add", 2, 3)
    assert (reply.interrupted, value) == (False, 5)
    clean(worker)


def test_a_reply_landing_just_after_the_time_limit_is_taken(worker, monkeypatch) -> None:
    """The reply is already in the pipe when the grader decides the time is up and interrupts:
    the reply stands (the cell finished), the interrupt is stale for the next request."""
    read = Session._read_reply

    def late(self, what):
        self._interrupt(self.last_id)
        time.sleep(0.05)  # let the SIGINT arrive while the worker waits for a request
        return read(self, what)

    monkeypatch.setattr(Session, "_read_reply", late)
    run(worker, HELPER_THREAD)
    for _ in range(3):
        reply, out = run(worker, "print(sum(range(1000)))")
        assert (reply.interrupted, out) == (False, "499500\n")
    monkeypatch.setattr(Session, "_read_reply", read)
    reply, out = run(worker, "x = 0\nfor i in range(1_500_000):\n    x += i\nprint(x)")
    assert (reply.interrupted, out) == (False, "1124999250000\n")
    clean(worker)


def test_a_cell_past_its_cpu_limit_is_interrupted_every_time(worker) -> None:
    run(worker, HELPER_THREAD)
    for _ in range(6):  # a wall backstop far away: on a loaded machine the CPU limit still ends it
        reply, _ = run(worker, "while True:\n    pass", cpu=0.3, wall=120)
        assert reply.interrupted and reply.cpu >= 0.3
        # the cell ends in KeyboardInterrupt (under load a resend may land while IPython formats
        # the first one's traceback and be reported as a second: cosmetic, the grade is the same)
        errors = [o["ename"] for o in reply.data["outputs"] if o["output_type"] == "error"]
        assert errors and set(errors) == {"KeyboardInterrupt"}, reply.data["outputs"]
    reply, out = run(worker, "print('still here')")
    assert (reply.interrupted, out) == (False, "still here\n")
    clean(worker)


def test_interrupts_never_land_in_the_graders_profile_hook(worker) -> None:
    """A probe of an answer whose reference is watched runs with the grader's profile hook on
    every call: interrupts land in it often, and must wait for the student's code."""
    run(worker, "def spin(n):\n    return n + 1\n")
    define(worker, "def busy():\n    n = 0\n    while True:\n        n = spin(n)\n")
    for _ in range(10):
        reply, _ = call(worker, "busy", cpu=0.2, answer="layer")
        assert reply.interrupted and reply.data["raised"]["type"] == "KeyboardInterrupt"
    define(worker, "def fine():\n    return spin(41)\n")
    assert call(worker, "fine", answer="layer")[1] == 42
    clean(worker)


def test_sleeping_is_not_charged_and_meets_the_wall_backstop(worker) -> None:
    reply, out = run(worker, "import time\ntime.sleep(1.5)\nprint('woke')", cpu=1.0, wall=30)
    assert (reply.interrupted, out) == (False, "woke\n") and reply.cpu < 1.0
    reply, _ = run(worker, "import time\ntime.sleep(600)", cpu=0.2)  # wall backstop: 1 s
    assert reply.interrupted
    clean(worker)


def test_the_processes_a_cell_starts_are_charged(worker) -> None:
    code = f"""
        import subprocess
        subprocess.run([{sys.executable!r}, "-c", "while True: pass"])
    """
    reply, _ = run(worker, code, cpu=1.0, wall=120)
    assert reply.interrupted and reply.cpu >= 1.0
    clean(worker)


def test_an_ignored_interrupt_ends_the_worker_as_a_timeout(worker, monkeypatch) -> None:
    monkeypatch.setattr(session_module, "GRACE_WALL", 2.0)
    code = """
        import time
        while True:
            try:
                time.sleep(0.01)
            except KeyboardInterrupt:
                pass
    """
    with pytest.raises(WorkerGone, match="ran past the time limit and ignored the interrupt"):
        run(worker, code, cpu=0.2)
    assert worker.out_of_time and worker.evidence == []


def test_a_fork_that_returns_into_the_worker_never_answers(worker) -> None:
    reply, out = run(worker, "import os\nchild = os.fork()\nprint('parent' if child else '')")
    assert out.strip() == "parent"
    for count in range(3):
        reply, out = run(worker, f"print('answered once', {count})")
        assert out == f"answered once {count}\n"
    clean(worker)
    assert worker.stale == 0


FAKE_WORKER = r'''
import json, os, struct, sys
fd_in, fd_out = int(sys.argv[1]), int(sys.argv[2])
def read():
    size = struct.unpack(">I", os.read(fd_in, 4))[0]
    data = b""
    while len(data) < size:
        data += os.read(fd_in, size - len(data))
    return json.loads(data)
def send(message):
    body = json.dumps(message).encode()
    os.write(fd_out, struct.pack(">I", len(body)) + body)
first = read()
send({"id": first["id"], "ready": True})
second = read()
send({"id": first["id"], "outputs": []})  # a late duplicate of the first reply
send({"id": second["id"], "outputs": [], "error": False})
third = read()
send({"id": "0" * 16, "outputs": []})  # answers no request that was sent
'''


def test_a_late_reply_is_dropped_and_a_reply_to_nothing_is_tampering(tmp_path) -> None:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    session = Session(detect(no_sandbox=True), 5, Limits(),
                      command=(sys.executable, str(script)))
    try:
        session.start({})
        reply, _ = run(session, "pass")
        assert reply.data["error"] is False and session.stale == 1 and session.evidence == []
        with pytest.raises(WorkerGone):
            run(session, "pass")
        assert any("out of turn" in line for line in session.evidence)
    finally:
        session.stop()


def test_armed_reference_refuses_to_run_in_any_thread() -> None:
    """While a test checks an answer, each function of its reference implementation runs a
    tripwire: also in a thread started before the test, also for an instance made before it;
    afterwards the course's code works again, unchanged."""
    import threading

    import torch

    from grader.evidence import References
    from toylib.layers import CausalConv1d

    references = References({"causal_conv1d": {"names": ["CausalConv1d"],
                                               "references": ["toylib.layers.CausalConv1d"]}})
    armed = references.functions["causal_conv1d"]
    assert {f.__name__ for f, _, _ in armed} >= {"__init__", "forward"}  # super(): a closure
    layer = CausalConv1d(1, 1, 2)
    x = torch.randn(1, 1, 5)  # (B, C, T)
    before = layer(x)
    jobs, results = [], []
    ready = threading.Event()

    def serve() -> None:  # a thread started before the test
        ready.wait()
        for job in jobs:
            try:
                results.append(job())
            except RuntimeError as error:
                results.append(str(error))

    thread = threading.Thread(target=serve)
    thread.start()
    references.arm("causal_conv1d")
    try:
        jobs += [lambda: layer(x), lambda: CausalConv1d(1, 1, 2)]
        ready.set()
        thread.join()
    finally:
        references.disarm("causal_conv1d")
    assert all("toylib.layers.CausalConv1d ran while a test checked your answer" in r
               for r in results), results
    assert torch.equal(layer(x), before)
    assert CausalConv1d(1, 1, 2)(x).shape == (1, 1, 5)
