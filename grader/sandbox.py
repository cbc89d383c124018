"""Run a grading worker (the process that runs a student's code) in a Linux sandbox.

Student code is hostile. In the modes "root" and "userns", ``Sandbox.popen`` gives the worker:

* No network: an empty network namespace (connections fail with "Network is unreachable").
* No view of the host's files: a mount namespace whose root is a fresh tmpfs, read-only once
  built, holding only what Python needs, each bind-mounted read-only at its host path: /usr (and
  the /bin, /lib ... links into it), the loader and time-zone files of /etc, the Python install
  (``sys.base_prefix``), the venv (``sys.prefix``) and the paths the grader names. /etc/passwd,
  group and hosts are made up; /dev has null, zero, full, random, urandom. The host's root is then
  detached (``pivot_root``): no solutions/, grader output, other submissions or home folders are
  left to find or escape to.
* Writes only to /submission (its cwd, holding a copy of the submission) and /tmp: two tmpfs of
  ``Limits.tmp_mb`` each, gone with the namespace.
* Limits (``setrlimit``) on memory, CPU time, processes, file size and open files.
* A scrubbed environment: exactly the dict the grader passes.
* No view of host processes: new pid, IPC, UTS and cgroup namespaces and a /proc of its own. The
  namespace's init (``grader/sandbox_init.py``) builds the root, starts the worker and exits
  when it exits; the kernel then kills everything left in the namespace, daemons included.
  Killing the ``unshare`` process kills that init (``--kill-child``), hence everything.
* No privileges: it is started by ``setpriv --no-new-privs --inh-caps=-all --bounding-set=-all``,
  so it has no capabilities (it cannot remount anything); in "root" mode also as a uid of its
  own (``worker_uid``: 100000 and up, never shared with another worker, even of the same slot),
  which owns nothing on the host.

"root" is for a grader running as root. "userns" does the same from an ordinary account inside a
user namespace (``unshare --user --map-root-user``), where the worker is uid 0, i.e. the grader's
own account, without capabilities; if a container forbids mounting /proc there, it has no /proc.
"none" (``--no-sandbox``) is a plain subprocess with the rlimits, the scrubbed environment and a
temporary cwd: only for a machine or account dedicated to grading.

Only util-linux (unshare, setpriv) and Python are used; nothing is set up by hand or left on the
host: the mounts die with the namespace, and the empty folder the root is built on is removed as
soon as the root is pivoted. Call ``kill`` when done with a worker, also after it exited (mode
"none" keeps its temporary folder until then). A worker killed by signal N exits with 128 + N in
the sandbox modes (its init reports it) and with -N in mode "none".
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.cgroups import Cgroups, WorkerCgroup
from grader.cpu_time import CpuMeter
from grader.sandbox_init import WORKDIR, _copy_files, _set_rlimits, isolate_keys, keys_supported

SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache",
                "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf",
                "/etc/fonts")
UID_BASE = 100000
CHAIN_PROCESSES = 4  # the sandbox's own processes in a worker's cgroup (unshare, init, ...)
INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_init.py")
KEYS_LINE = ("keys: a fresh, empty session keyring; add_key, request_key and keyctl refused "
             "(seccomp), so no key of the grader's is readable and none outlives the worker")
NO_SANDBOX_HINT = ("Hosted CI runners and some containers restrict user namespaces. Pass "
                   "--no-sandbox to grade without isolation, only on a machine or account "
                   "dedicated to grading.")


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096      # RLIMIT_AS of the worker (torch needs ~0.7 GB virtual to import)
    cpu_seconds: int = 900     # RLIMIT_CPU
    processes: int = 64        # RLIMIT_NPROC (sandbox modes only: own uid / own user namespace)
    file_mb: int = 64          # RLIMIT_FSIZE
    open_files: int = 256      # RLIMIT_NOFILE
    tmp_mb: int = 256          # size of each writable tmpfs (/submission and /tmp)

    def rlimits(self, nproc: bool) -> dict[str, int]:
        limits = {"RLIMIT_AS": self.memory_mb << 20, "RLIMIT_CPU": self.cpu_seconds,
                  "RLIMIT_FSIZE": self.file_mb << 20, "RLIMIT_NOFILE": self.open_files}
        return limits | ({"RLIMIT_NPROC": self.processes} if nproc else {})


_started = 0  # workers this process has started (a part of their uids)


def worker_uid() -> int:
    """A uid that no other worker has while this one lives, and that the next worker of the
    same slot does not get either: the grading process's pid (unique among live processes)
    and its count of workers. So what a student leaves with the kernel under their uid (a
    key, a message queue, a process limit's count) never reaches another student."""
    global _started
    _started += 1
    return UID_BASE + os.getpid() * 64 + _started % 64  # < 2**31 for every Linux pid


class SandboxUnavailable(Exception):
    """The OS cannot give the sandbox here; the message says why and mentions --no-sandbox."""


@dataclass
class Sandbox:
    mode: str  # "root", "userns" or "none" (see the module docstring)
    cgroups: Cgroups | None = field(default=None, compare=False)  # a cgroup per worker if set
    cpu_cores: float = 1.0  # each worker's CPU quota where there are cgroups
    _dirs: dict[int, str] = field(default_factory=dict, repr=False, compare=False)
    _groups: dict[int, WorkerCgroup] = field(default_factory=dict, repr=False, compare=False)
    _made: int = field(default=0, repr=False, compare=False)

    def _cgroup(self, slot: int, limits: Limits) -> WorkerCgroup | None:
        if self.cgroups is None or self.cgroups.version is None:
            return None
        self._made += 1
        return self.cgroups.create(f"grader-{os.getpid()}-{slot}-{self._made}", self.cpu_cores,
                                   limits.memory_mb, limits.processes + CHAIN_PROCESSES)

    def cgroup_line(self, limits: Limits | None = None) -> str | None:
        if self.cgroups is None:
            return None
        limits = limits or Limits()
        return self.cgroups.describe(self.cpu_cores, limits.memory_mb, limits.processes)

    def protections(self) -> list[str]:
        """One line per protection active in this mode (for 'none': what is NOT protected)."""
        if self.mode == "none":
            return ["NO SANDBOX (--no-sandbox): student code runs as your own account",
                    "NOT protected: network access",
                    "NOT protected: reading whatever your account can read (solutions/, other "
                    "submissions, grader output, your home folder)",
                    "NOT protected: writing wherever your account can write",
                    "NOT protected: your other processes can be seen and signalled; a daemon "
                    "(setsid, double fork) can outlive its worker",
                    "protected: memory, CPU time, file size and open files are limited (the "
                    "number of processes is not)",
                    "protected: the environment is only what the grader passes; the cwd is a "
                    "fresh temporary folder",
                    KEYS_LINE if keys_supported() else "NOT protected: the kernel's key store"]
        who = ("a uid of its own, never another worker's (100000 and up)" if self.mode == "root"
               else "uid 0 of a user namespace (your own account outside)")
        return ["network: none (an empty network namespace)",
                "files: only the system, Python, the venv and the paths the grader names, all "
                "read-only; no solutions/, grader output, other submissions or home folders",
                f"writes: only {WORKDIR} (a copy of the submission) and /tmp, two small tmpfs that "
                "vanish with the worker",
                "limits: memory, CPU time, processes, file size and open files",
                KEYS_LINE if keys_supported() else "NOT protected: the kernel's key store (key "
                f"system calls not filtered on {platform.machine()})",
                "environment: only the variables the grader passes",
                "processes: own pid/IPC/UTS namespaces; host processes (the grader too) are "
                "invisible and out of reach; all it starts dies with it",
                f"privileges: none (no capabilities, no-new-privs); runs as {who}"]

    def popen(self, argv: list[str], *, env: dict[str, str], read_only: Sequence[Path] = (),
              files: Path | None = None, slot: int = 0, limits: Limits | None = None,
              pass_fds: tuple[int, ...] = (), stdout=None, stderr=None) -> subprocess.Popen:
        """Start ``argv`` (argv[0] an absolute path) in the sandbox with cwd ``WORKDIR``. ``env`` is
        the whole environment, ``read_only`` extra host paths shown read-only at the same path,
        ``files`` a folder whose regular files (recursively, symlinks skipped) are copied into
        ``WORKDIR``, ``slot`` tells concurrent workers apart. stdin is /dev/null."""
        if not os.path.isabs(argv[0]) or not os.path.exists(argv[0]):
            raise ValueError(f"sandbox: argv[0] must be an existing absolute path: {argv[0]!r}")
        if files is not None and not os.path.isdir(files):
            raise ValueError(f"sandbox: files={files} is not a folder")
        limits = limits or Limits()
        if self.mode == "none":
            work = tempfile.mkdtemp(prefix="grader-worker-")
            rlimits = limits.rlimits(nproc=False)
            group = None
            try:
                if files is not None:
                    _copy_files(str(files), work, None)
                group = self._cgroup(slot, limits)
                proc = subprocess.Popen(group.wrap(argv) if group else argv, env=env, cwd=work,
                                        stdin=subprocess.DEVNULL,
                                        stdout=stdout, stderr=stderr, pass_fds=pass_fds,
                                        start_new_session=True,
                                        preexec_fn=lambda: _start_none(rlimits))
            except BaseException:
                shutil.rmtree(work)
                if group is not None:
                    group.remove()
                raise
            self._dirs[proc.pid] = work
            if group is not None:
                self._groups[proc.pid] = group
            return proc
        extra = [os.path.abspath(p) for p in read_only]
        for path in extra:
            if not os.path.lexists(path) or path in ("/", WORKDIR, "/tmp", "/proc", "/dev"):
                raise ValueError(f"sandbox: read_only path {path} does not exist or would hide "
                                 "the sandbox's own folders")
        shown = [*SYSTEM_PATHS, sys.base_prefix, sys.prefix, *sorted(extra)]
        if not any(argv[0].startswith(path.rstrip("/") + "/") for path in shown):
            raise ValueError(f"sandbox: {argv[0]} is not visible in the sandbox; add its folder "
                             "to read_only")
        uid = worker_uid() if self.mode == "root" else 0
        drop = ["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
        if self.mode == "root":
            drop = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *drop]
        unshare, setpriv = _tool("unshare"), _tool("setpriv")
        user = ["--user", "--map-root-user"] if self.mode == "userns" else []
        # --pdeathsig: if the grading process dies, unshare dies, and with it the namespace
        # (the caller's thread that starts the worker must live as long as the worker)
        command = [setpriv, "--pdeathsig", "KILL", unshare, *user, "--mount", "--net", "--pid",
                   "--ipc", "--uts", "--cgroup", "--fork", "--kill-child", "--propagation",
                   "private", sys.executable, "-I", "-S", INIT, "--init"]
        stage = tempfile.mkdtemp(prefix="sandbox-root-")
        try:
            group = self._cgroup(slot, limits)
        except BaseException:
            os.rmdir(stage)
            raise
        if group is not None:  # the chain joins it before it runs anything
            command = group.wrap(command)
        config = {"stage": stage, "uid": uid, "tmp_mb": limits.tmp_mb, "env": env,
                  "files": os.path.abspath(files) if files is not None else None,
                  "expose": list(dict.fromkeys(shown)),
                  "argv": [setpriv, *drop, "--", *argv], "rlimits": limits.rlimits(nproc=True),
                  "isolate_keys": keys_supported()}
        try:
            proc = subprocess.Popen(command, env={}, stdin=subprocess.PIPE, stdout=stdout,
                                    stderr=stderr, pass_fds=pass_fds, start_new_session=True)
        except BaseException:
            os.rmdir(stage)
            if group is not None:
                group.remove()
            raise
        self._dirs[proc.pid] = stage
        if group is not None:
            self._groups[proc.pid] = group
        # The config goes through stdin, as any host account can read a command line. A broken
        # pipe means the init died at once: its stderr and exit status tell why.
        with contextlib.suppress(BrokenPipeError), proc.stdin:
            proc.stdin.write(json.dumps(config).encode())
        proc.stdin = None  # so that communicate() leaves it alone
        return proc

    def worker_pid(self, proc: subprocess.Popen, timeout: float = 2.0) -> int | None:
        """Host pid of the worker itself (to send it SIGINT); None once it is gone."""
        return self.worker_and_init(proc, timeout)[0]

    def worker_and_init(self, proc: subprocess.Popen, timeout: float = 2.0
                        ) -> tuple[int | None, int | None]:
        """Host pids of the worker and of its namespace's init (None in mode "none", or gone)."""
        if self.mode == "none":
            return (proc.pid if proc.poll() is None else None), None
        import psutil

        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            try:  # unshare -> its child, the init (pid 1 inside) -> the init's oldest child
                for init in psutil.Process(proc.pid).children():
                    if workers := init.children():
                        worker = min(workers, key=lambda p: (p.create_time(), p.pid))
                        return worker.pid, init.pid
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.005)
        return None, None

    def meter(self, proc: subprocess.Popen, timeout: float = 30.0) -> CpuMeter:
        """A meter of the CPU seconds used by the worker and everything it started."""
        worker, init = self.worker_and_init(proc, timeout)
        return CpuMeter(proc.pid, [pid for pid in (worker, init) if pid is not None])

    def kill(self, proc: subprocess.Popen) -> None:
        """Kill the worker and everything it started, reap it, remove its folder. Idempotent."""
        import psutil

        victims = []
        if proc.returncode is None:  # not reaped yet: its pid and group id are still its own
            with contextlib.suppress(psutil.NoSuchProcess):
                victims = psutil.Process(proc.pid).children(recursive=True)
            if self.mode == "none":
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()  # sandbox: unshare's death kills the init, the init's the namespace
        for victim in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.kill()
        proc.wait()
        deadline = time.monotonic() + 5
        for victim in victims:  # until it is gone, or a zombie that runs nothing any more
            with contextlib.suppress(psutil.NoSuchProcess):
                while victim.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                    time.sleep(0.01)
        group = self._groups.pop(proc.pid, None)
        if group is not None:  # whatever escaped the process tree (setsid, double fork)
            group.remove()
        folder = self._dirs.pop(proc.pid, None)
        if folder is not None and self.mode == "none":
            shutil.rmtree(folder, ignore_errors=True)
        elif folder is not None and os.path.isdir(folder):
            os.rmdir(folder)  # the init removes it; left only if the init failed early

    def trial(self) -> str | None:
        """Run ``python -c pass`` through the whole chain: None if it works, else why not."""
        try:
            proc = self.popen([sys.executable, "-I", "-S", "-c", "pass"], env={},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except (OSError, SandboxUnavailable) as error:
            return str(error)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            return "a trial run did not finish within 20 s"
        finally:
            self.kill(proc)
        message = err.decode(errors="replace").strip()
        return None if proc.returncode == 0 else message or f"exit status {proc.returncode}"


def _start_none(rlimits: dict[str, int]) -> None:
    """In the child of mode "none", before exec: the limits, death with the grader, and SIGINT
    as Python expects it (a grader started in the background of a shell ignores SIGINT, and an
    ignored signal stays ignored across exec), as the sandbox's init does."""
    _set_rlimits(rlimits)
    if keys_supported():
        with contextlib.suppress(OSError):  # best effort: this mode protects little anyway
            isolate_keys()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_DETECTED: dict[int, Sandbox | SandboxUnavailable] = {}


def detect(no_sandbox: bool = False) -> Sandbox:
    """Mode 'none' if asked, else 'root' (as root) or 'userns', the first whose trial run works;
    else SandboxUnavailable with the reasons. Cached per process."""
    if no_sandbox:
        return Sandbox("none")
    if os.getpid() not in _DETECTED:
        _DETECTED[os.getpid()] = _detect()
    found = _DETECTED[os.getpid()]
    if isinstance(found, SandboxUnavailable):
        raise SandboxUnavailable(str(found))
    return found


def with_cgroups(sandbox: Sandbox, cpu_cores: float = 1.0) -> Sandbox:
    """``sandbox`` with a cgroup per worker where this machine allows one (see
    ``grader.cgroups``; ``cgroup_line`` says which, or why not)."""
    return Sandbox(sandbox.mode, cgroups=Cgroups.detect(), cpu_cores=cpu_cores)


def _detect() -> Sandbox | SandboxUnavailable:
    if sys.platform != "linux":
        return SandboxUnavailable(f"the sandbox needs Linux namespaces, this is {sys.platform}. "
                                  + NO_SANDBOX_HINT)
    reasons = []
    for mode in ["root", "userns"] if os.geteuid() == 0 else ["userns"]:
        if (reason := Sandbox(mode).trial()) is None:
            return Sandbox(mode)
        reasons.append(f"{mode} mode: {reason}")
    return SandboxUnavailable(f"cannot start the sandbox ({'; '.join(reasons)}). {NO_SANDBOX_HINT}")


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise SandboxUnavailable(f"the sandbox needs the `{name}` command (util-linux): install "
                                 "it, or pass --no-sandbox")
    return os.path.realpath(path)

