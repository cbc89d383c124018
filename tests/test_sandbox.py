"""grader/sandbox.py: each protection, checked from outside by running a probe through popen.

One probe program runs once per sandbox mode (the detected one, plus "userns" when that is
"root") and reports what it could and could not do; the small tests below read its report. The
sandbox tests skip, with the reason, where detect() says the OS gives no sandbox.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

import grader.sandbox as sandbox_module
from grader.sandbox import WORKDIR, Limits, Sandbox, SandboxUnavailable, detect

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
READ_ONLY = [REPO / "toylib", REPO / "grader"]
ENV = {"LANG": "C.UTF-8", "HOME": WORKDIR, "PATH": "/usr/bin:/bin", "PROBE": "yes"}
SLOT = 3
LIMITS = Limits(processes=16, file_mb=4, tmp_mb=8)
# a guard against a hung sandbox only, never a measure (a loaded machine is slow, not wrong)
HANG_GUARD_S = 600

PROBE = r'''
import errno, json, os, signal, socket, subprocess, sys, time
args = json.loads(sys.argv[1])
out = {"uid": [os.getuid(), os.getgid(), os.getgroups()], "cwd": os.getcwd()}

def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error))
    except MemoryError:
        return "MemoryError"

def write(path, data=b"x"):
    with open(path, "wb") as f:
        f.write(data)

def key_attempts():
    # The kernel's key store: the session and user keyrings read, a key added to the user's
    import ctypes, platform
    libc = ctypes.CDLL(None, use_errno=True)
    add, ctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
    def call(*a):
        return "ok" if libc.syscall(*a) >= 0 else errno.errorcode[ctypes.get_errno()]
    return {"read_session": call(ctl, 0, -3, 0), "read_user": call(ctl, 0, -4, 0),
            "add": call(add, b"user", b"left-behind", b"x", 1, -4)}

out["files"] = []
for folder, dirs, names in os.walk("."):  # not into the read-only mounts of the venv and the repo
    dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(folder, d))]
    out["files"] += sorted(os.path.relpath(os.path.join(folder, n)) for n in names)
start = time.monotonic()
out["net"] = [attempt(lambda h=h: socket.create_connection((h, 53), timeout=5).close())
              for h in ("10.0.0.1", "1.1.1.1")]
out["net_seconds"] = time.monotonic() - start
out["seen"] = [p for p in args["hidden"] if os.path.lexists(p)]
out["writes"] = {name: attempt(lambda p=p: write(p)) for name, p in args["writes"].items()}
work = args["workdir"]
out["work"] = attempt(lambda: write(f"{work}/small"))
out["file_size"] = attempt(lambda: write(f"{work}/big", b"x" * (5 << 20)))
os.remove(f"{work}/big")
out["fill"] = [attempt(lambda d=d: [write(f"{d}/fill{i}", b"x" * (3 << 20)) for i in range(4)])
               for d in (work, "/tmp")]
out["memory"] = attempt(lambda: bytearray(8 << 30))
out["env"] = dict(os.environ)
pids = [p for p in os.listdir("/proc") if p.isdigit()]
out["pids"] = [(int(p), open(f"/proc/{p}/cmdline", "rb").read().decode()) for p in pids]
out["kill_parent"] = attempt(lambda: os.kill(os.getppid(), signal.SIGKILL))
out["signal_host"] = attempt(lambda: os.kill(args["host_pid"], 0))
status = dict(line.split(":\t") for line in open("/proc/self/status").read().splitlines())
out["caps"] = [int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")]
remount = ["mount", "-o", "remount,bind,rw", args["read_only"]]
out["remount"] = [subprocess.run(c, capture_output=True).returncode
                  for c in (remount, ["unshare", "--user", "--map-root-user", "--mount", *remount])]
os.write(args["fd"], b"hello through the pipe")
daemon = os.fork()
if daemon == 0:
    os.setsid()
    if os.fork() == 0:  # a daemon: no tie to the worker, not even its stdout or stderr
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        code = f"import time; time.sleep(2); open({work + '/daemon-was-here'!r}, 'w')"
        os.execv(sys.executable, [sys.executable, "-c", code, args["marker"]])
    os._exit(0)
os.waitpid(daemon, 0)
time.sleep(0.1)
out["daemon_started"] = any(args["marker"].encode() in open(f"/proc/{p}/cmdline", "rb").read()
                            for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid())
children, out["forks"] = [], "ok"
try:
    for _ in range(40):
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        children.append(child)
except OSError as error:
    out["forks"] = errno.errorcode[error.errno]
out["children"] = len(children)
for child in children:
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
out["keys"] = key_attempts()
print(json.dumps(out))
'''


def marked(marker: str) -> list[psutil.Process]:
    """Host processes whose command line holds ``marker``, zombies left out."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(
                process.info["cmdline"] or []):
            found.append(process)
    return found


def add_grader_key() -> None:
    """A key in this process's session keyring, as an instructor's credentials might be."""
    import ctypes
    import platform

    add = {"x86_64": 248, "aarch64": 217}.get(platform.machine())
    if add is None:
        pytest.skip(f"key system calls not known on {platform.machine()}")
    ctypes.CDLL(None).syscall(add, b"user", b"grader-secret", b"instructor key", 14, -3)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    try:
        return detect()
    except SandboxUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module", params=["detected", "userns"])
def probe(request, sandbox, tmp_path_factory) -> dict:
    """The probe's report, run in the detected mode and (when that is root) in userns mode."""
    if request.param == "userns" and sandbox.mode != "root":
        pytest.skip("userns mode is the detected mode here")
    box = sandbox if request.param == "detected" else Sandbox("userns")
    tmp = tmp_path_factory.mktemp("probe")
    secret = tmp / "secret.txt"
    secret.write_text("the answers")
    files = tmp / "submission"
    (files / "sub").mkdir(parents=True)
    (files / "notebook.ipynb").write_text("{}")
    (files / "sub" / "data.txt").write_text("data")
    (files / "link").symlink_to(secret)
    home, token = Path.home(), uuid.uuid4().hex
    needed = [Path(p) for p in (sys.prefix, sys.base_prefix)]
    in_home = [p for p in (home.iterdir() if home.is_dir() else [])
               if not any(p == n or p in n.parents for n in needed)]
    writes = {"home": home / token, "cwd": Path.cwd() / token, "read_only": REPO / "toylib" / token,
              "etc": Path("/etc") / token, "usr": Path("/usr") / token}
    args = {"hidden": [str(p) for p in [secret, tmp, REPO / "solutions", REPO / "README.md",
                                         REPO / ".git", Path("/etc/shadow"), *in_home[:5]]],
            "writes": {n: str(p) for n, p in writes.items()}, "host_pid": os.getpid(),
            "read_only": str(REPO / "toylib"), "marker": f"sandbox-daemon-{token}",
            "workdir": WORKDIR}
    read, write = os.pipe()
    args["fd"] = write
    add_grader_key()
    os.environ["GRADER_SECRET"] = "instructor only"
    try:
        proc = box.popen([PYTHON, "-c", PROBE, json.dumps(args)], env=ENV, read_only=READ_ONLY,
                         files=files, slot=SLOT, limits=LIMITS, pass_fds=(write,),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        del os.environ["GRADER_SECRET"]
        os.close(write)
    try:
        out, err = proc.communicate(timeout=HANG_GUARD_S)
        daemons = marked(args["marker"])  # right after the worker ended
    finally:
        box.kill(proc)
    with os.fdopen(read, "rb") as pipe:
        piped = pipe.read()
    on_host = [name for name, path in writes.items() if path.exists()]
    for name in on_host:  # a broken sandbox must not leave litter behind
        writes[name].unlink()
    assert proc.returncode == 0, err.decode()
    return {**json.loads(out), "mode": box.mode, "piped": piped, "daemons": daemons,
            "on_host": on_host}


def test_network_is_unreachable(probe):
    assert probe["net"] == ["ENETUNREACH", "ENETUNREACH"]
    assert probe["net_seconds"] < 4  # refused at once, not after the 5 s connection timeout


def test_host_files_are_invisible(probe):
    assert probe["seen"] == []


def test_writes_outside_work_fail_and_nothing_reaches_the_host(probe):
    assert probe["on_host"] == []
    for name in ("home", "read_only", "etc", "usr"):
        if name == "home" and Path.home().parts[:2] in (("/", "tmp"), Path(WORKDIR).parts[:2]):
            continue  # a home in /tmp or WORKDIR: the sandbox's own private tmpfs is there
        assert probe["writes"][name] in ("EROFS", "EACCES", "ENOENT"), name
    if probe["mode"] == "root":  # userns runs as uid 0 of its namespace: a host cwd under the
        # sandbox's own /tmp or WORKDIR would be a folder it owns there
        assert probe["writes"]["cwd"] != "ok"


def test_work_and_tmp_are_writable_but_limited(probe):
    assert probe["cwd"] == WORKDIR
    assert probe["work"] == "ok"
    assert probe["file_size"] == "EFBIG"
    assert probe["fill"] == ["ENOSPC", "ENOSPC"]


def test_files_are_copied_without_symlinks(probe):
    assert probe["files"] == ["notebook.ipynb", "sub/data.txt"]


def test_memory_and_process_limits(probe):
    assert probe["memory"] == "MemoryError"
    if probe["mode"] == "userns" and os.geteuid() == 0:
        return  # RLIMIT_NPROC never applies to the host's uid 0, which this userns maps to
    assert probe["forks"] == "EAGAIN"
    assert probe["children"] < LIMITS.processes


def test_a_daemon_dies_with_the_worker(probe):
    assert probe["daemon_started"]
    assert probe["daemons"] == []


def test_environment_is_exactly_the_given_one(probe):
    assert probe["env"] == ENV


def test_host_processes_are_invisible_and_out_of_reach(probe):
    assert len(probe["pids"]) <= 3 and all(pid < 100 for pid, _ in probe["pids"])
    host = "\0".join(psutil.Process().cmdline())
    assert not any(cmdline.startswith(host) for _, cmdline in probe["pids"])
    assert probe["signal_host"] == "ESRCH"
    assert probe["kill_parent"] in ("ok", "EPERM")  # ok: pid 1 of a namespace ignores it


def test_the_kernel_key_store_is_out_of_reach(probe):
    """A key in the grader's session keyring (added before the worker started) cannot be read,
    and the worker cannot add one that the next student of the slot would find."""
    assert probe["keys"] == {"read_session": "EPERM", "read_user": "EPERM", "add": "EPERM"}


def test_no_privileges(probe):
    assert probe["caps"] == [0, 0, 0, 0, 0]
    assert all(code != 0 for code in probe["remount"])
    if probe["mode"] == "root":
        uid = probe["uid"][0]
        assert uid >= 100000 and probe["uid"] == [uid, uid, []]


def test_each_worker_gets_a_uid_of_its_own(sandbox):
    """Two workers of the same slot, one after the other: different uids, so nothing the first
    leaves under its uid (a key, a queue, a process count) reaches the second."""
    if sandbox.mode != "root":
        pytest.skip("uids are mapped only when the grader runs as root")
    uids = []
    for _ in range(2):
        proc = sandbox.popen([PYTHON, "-c", "import os; print(os.getuid())"], env=ENV,
                             read_only=READ_ONLY, slot=SLOT, stdout=subprocess.PIPE)
        out, _ = proc.communicate(timeout=HANG_GUARD_S)
        sandbox.kill(proc)
        uids.append(int(out))
    assert uids[0] != uids[1] and min(uids) >= 100000, uids


def test_terminals_of_its_own(sandbox):
    """A new devpts instance: IPython's `!command` runs in a pseudo-terminal, as in Jupyter;
    none of the host's terminals is there."""
    code = ("import os, pty\npid, fd = pty.fork()\nif pid == 0:\n"
            "    os.execv('/bin/echo', ['echo', 'a terminal'])\n"
            "print(os.read(fd, 100).decode().strip(), len(os.listdir('/dev/pts')))")
    proc = sandbox.popen([PYTHON, "-c", code], env=ENV, read_only=READ_ONLY, slot=SLOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=HANG_GUARD_S)
    sandbox.kill(proc)
    assert proc.returncode == 0, err.decode()
    text, count = out.decode().rsplit(" ", 1)
    assert text == "a terminal" and int(count) <= 2  # ptmx and at most the one just opened


def test_pass_fds_reach_the_worker(probe):
    assert probe["piped"] == b"hello through the pipe"


INTERRUPTIBLE = r'''
import os, subprocess, sys, time
fd, marker = int(sys.argv[1]), os.environ["MARKER"]
try:
    os.write(fd, b"ready\n")
    time.sleep(30)
except KeyboardInterrupt:
    os.write(fd, b"interrupted\n")
sleeper = [sys.executable, "-c", "import time; time.sleep(60)", marker]
subprocess.Popen(sleeper)
subprocess.Popen(sleeper, start_new_session=True)
os.write(fd, b"children\n")
time.sleep(60)
'''


@pytest.mark.parametrize("mode", ["sandbox", "none"])
def test_sigint_interrupts_and_kill_leaves_nothing(request, mode, tmp_path):
    box = request.getfixturevalue("sandbox") if mode == "sandbox" else detect(no_sandbox=True)
    marker = f"sandbox-sleeper-{uuid.uuid4().hex}"
    read, write = os.pipe()
    proc = box.popen([PYTHON, "-c", INTERRUPTIBLE, str(write)], env={**ENV, "MARKER": marker},
                     read_only=READ_ONLY, files=None, slot=SLOT, limits=Limits(),
                     pass_fds=(write,), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        try:
            assert pipe.readline() == b"ready\n", proc.stderr.read()
            worker = box.worker_pid(proc)
            assert worker is not None and (worker == proc.pid) == (box.mode == "none")
            os.kill(worker, signal.SIGINT)
            assert pipe.readline() == b"interrupted\n"
            assert pipe.readline() == b"children\n"
            deadline = time.monotonic() + 30  # a wait, not a timing claim
            while len(marked(marker)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(marked(marker)) == 2
            folder = box._dirs[proc.pid]
        finally:
            box.kill(proc)
    if box.mode == "none":
        assert marked(marker) == []
        assert not os.path.exists(folder)
    else:  # the setsid child too, which no process tree leads to: the pid namespace took it
        assert marked(marker) == []
    assert proc.returncode is not None
    box.kill(proc)  # idempotent
    assert box.worker_pid(proc) is None


def test_torch_and_toylib_import_inside(sandbox):
    code = "import torch, toylib; print(torch.ones(3).sum().item())"
    proc = sandbox.popen([PYTHON, "-c", code], env={**ENV, "OMP_NUM_THREADS": "1"},
                         read_only=READ_ONLY, files=None, slot=SLOT, limits=Limits(),
                         pass_fds=(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=HANG_GUARD_S)
    sandbox.kill(proc)
    assert (proc.returncode, out) == (0, b"3.0\n"), err.decode()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_overhead_is_small_and_nothing_is_left_on_the_host(sandbox):
    """The sandbox costs little CPU (counted, so a busy machine cannot fail this: the
    wall-clock times are printed, not asserted), and leaves no mount behind."""
    mounts = Path("/proc/self/mountinfo").read_text()
    bare, boxed, walls = [], [], []
    for _ in range(3):  # interleaved; the least of each
        start, cpu = time.perf_counter(), children_cpu()
        subprocess.run([PYTHON, "-c", "pass"], check=True)
        bare.append(children_cpu() - cpu)
        walls.append(time.perf_counter() - start)
        start, cpu = time.perf_counter(), children_cpu()
        proc = sandbox.popen([PYTHON, "-c", "pass"], env={}, read_only=READ_ONLY, files=None,
                             slot=SLOT, limits=Limits(), pass_fds=(), stdout=None, stderr=None)
        stage = Path(sandbox._dirs[proc.pid])  # the host folder the init mounts the root on
        proc.wait()
        assert not stage.exists()  # the init removed it, before any kill()
        sandbox.kill(proc)
        assert proc.returncode == 0
        boxed.append(children_cpu() - cpu)
        walls.append(time.perf_counter() - start)
    print(f"python -c pass: {min(bare):.3f} CPU s bare, {min(boxed):.3f} in the sandbox; wall "
          f"{min(walls[::2]):.3f} s and {min(walls[1::2]):.3f} s")
    assert min(boxed) - min(bare) < 0.3, f"sandbox overhead {min(boxed) - min(bare):.3f} CPU s"
    assert Path("/proc/self/mountinfo").read_text() == mounts


def test_no_sandbox_mode(tmp_path):
    box = detect(no_sandbox=True)
    assert box.mode == "none"
    assert any(line.startswith("NOT protected: network") for line in box.protections())
    files = tmp_path / "submission"
    (files / "sub").mkdir(parents=True)
    (files / "sub" / "data.txt").write_text("data")
    (files / "link").symlink_to(tmp_path)
    code = ("import json, os\n"
            "try:\n    bytearray(8 << 30); memory = 'ok'\n"
            "except MemoryError:\n    memory = 'MemoryError'\n"
            "files = sorted(os.path.relpath(os.path.join(d, n)) for d, _, ns in os.walk('.')"
            " for n in ns)\n"
            "print(json.dumps([os.getcwd(), files, dict(os.environ), memory]))")
    os.environ["GRADER_SECRET"] = "instructor only"
    try:
        proc = box.popen([PYTHON, "-c", code], env=ENV, read_only=[], files=files, slot=0,
                         limits=Limits(), pass_fds=(), stdout=subprocess.PIPE, stderr=None)
    finally:
        del os.environ["GRADER_SECRET"]
    out, _ = proc.communicate(timeout=HANG_GUARD_S)
    cwd, copied, env, memory = json.loads(out)
    box.kill(proc)
    assert cwd != str(Path.cwd()) and not os.path.exists(cwd)
    assert (copied, env, memory) == (["sub/data.txt"], ENV, "MemoryError")


def test_protections_and_errors_name_the_problem(monkeypatch, tmp_path):
    for mode in ("root", "userns"):
        lines = Sandbox(mode).protections()
        assert any(line.startswith("network: none") for line in lines)
    with pytest.raises(ValueError, match="absolute path"):
        Sandbox("root").popen(["python"], env={})
    with pytest.raises(ValueError, match="does not exist"):
        Sandbox("root").popen([PYTHON], env={}, read_only=[Path("/no/such/folder")])
    hidden = tmp_path / "program"
    hidden.touch()
    with pytest.raises(ValueError, match="add its folder to read_only"):
        Sandbox("root").popen([str(hidden)], env={})

    denied = tmp_path / "unshare"  # what a runner that forbids namespaces answers
    denied.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\n"
                      "exit 1\n")
    denied.chmod(0o755)
    tool = sandbox_module._tool
    monkeypatch.setattr(sandbox_module, "_tool",
                        lambda name: str(denied) if name == "unshare" else tool(name))
    stages = tmp_path / "stages"  # where the trial runs make (and must remove) their folders
    stages.mkdir()
    monkeypatch.setattr(sandbox_module.tempfile, "tempdir", str(stages))
    found = sandbox_module._detect()
    assert isinstance(found, SandboxUnavailable)
    assert "unshare failed: Operation not permitted" in str(found)
    assert "--no-sandbox" in str(found) and "CI" in str(found)
    assert list(stages.iterdir()) == []


@pytest.fixture(scope="module")
def boxed(sandbox) -> Sandbox:
    """The detected sandbox with a cgroup per worker, where this machine allows one."""
    from grader.sandbox import with_cgroups

    box = with_cgroups(sandbox)
    if box.cgroups.version is None:
        pytest.skip(f"no cgroups here: {box.cgroups.reason}")
    return box


SPINNERS = """
import os, sys, time
for _ in range(4):  # four processes that leave the worker's session and spin
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
print("spinning", flush=True)
time.sleep(60)
"""

MEMFD = """
import os
fds, chunk = [], b"x" * (1 << 20)
for k in range(12):  # 600 MB in memfd files: no address space, so RLIMIT_AS never sees them
    fd = os.memfd_create(f"m{k}")
    for _ in range(50):
        os.write(fd, chunk)
    fds.append(fd)
    print("held", (k + 1) * 50, "MB", flush=True)
"""


def cpu_seconds(pids) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, psutil.NoSuchProcess):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def test_a_cgroup_caps_the_cpu_of_everything_a_worker_starts_and_kill_reaches_it(boxed):
    """Four setsid'd spinners share the worker's one-core quota (an upper bound: a busy
    machine only lowers it), and killing the worker kills them and removes the cgroup."""
    proc = boxed.popen([PYTHON, "-c", SPINNERS], env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    group = boxed._groups[proc.pid]
    try:
        assert proc.stdout.readline() == b"spinning\n"
        pids = group.pids()
        assert len(pids) >= 5  # the sandbox's own processes, the worker and its four spinners
        before, start = cpu_seconds(pids), time.monotonic()
        time.sleep(1.5)
        cores = (cpu_seconds(pids) - before) / (time.monotonic() - start)
        assert cores < 1.3, f"{cores:.2f} cores used under a one-core quota"
    finally:
        boxed.kill(proc)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in pids)
    assert not any(folder.exists() for folder in group.folders.values())


def test_a_cgroup_counts_memfd_memory_that_rlimits_miss(boxed):
    """600 MB held in memfd files: past the 256 MB of the worker's cgroup the worker is killed;
    the rlimit alone lets it through (mode "none" without a cgroup, the comparison)."""
    from grader.sandbox import Sandbox

    limits = Limits(memory_mb=256)
    results = {}
    for name, box in (("cgroup", boxed), ("rlimits only", Sandbox("none"))):
        proc = box.popen([PYTHON, "-c", MEMFD], env=ENV, limits=limits,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, _ = proc.communicate(timeout=HANG_GUARD_S)
        finally:
            box.kill(proc)
        results[name] = (proc.returncode, out.decode().split("\n")[-2])
    assert results["rlimits only"] == (0, "held 600 MB")
    code, last = results["cgroup"]
    assert code != 0 and last != "held 600 MB", results


def test_cgroups_left_by_a_killed_grading_process_are_cleaned_up(boxed):
    group = boxed.cgroups.create(f"grader-{os.getpid()}-cleanup-1", 1.0, 64, 8)
    assert all(folder.is_dir() for folder in group.folders.values())
    assert boxed.cgroups.cleanup(f"grader-{os.getpid()}-cleanup-") == 1
    assert not any(folder.exists() for folder in group.folders.values())
