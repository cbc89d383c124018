"""The init of a worker's sandbox: pid 1 of its namespaces (see ``grader.sandbox``).

``grader.sandbox`` runs this file as ``python -I -S sandbox_init.py --init`` inside fresh mount,
network, pid, IPC, UTS and cgroup namespaces, and passes its settings on stdin (a command line is
readable by any account). It builds the worker's root (a tmpfs holding read-only bind mounts of
what Python needs, a private ``WORKDIR`` and /tmp, made-up /etc files, a few /dev nodes and its
own /proc), pivots into it and detaches the host's root, then starts the worker through ``setpriv``
(no capabilities, no new privileges, in root mode an unprivileged uid) with its rlimits and
environment, reaps orphans, and exits with the worker's status: the kernel then kills whatever
is left in the namespace. Standard library only: it runs before any ``sys.path`` is set up.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import shutil
import signal
import stat
import sys
from pathlib import Path

WORKDIR = "/submission"  # the worker's cwd and home: a copy of the submission, writable
DEVICES = ("null", "zero", "full", "random", "urandom")
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "shm": "/tmp"}
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}


def _set_rlimits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        which = getattr(resource, name)
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def _copy_files(source: str, target: str, uid: int | None) -> None:
    """Copy the regular files under ``source`` into ``target``, never following a symlink."""
    for folder, _, names in os.walk(source):
        here = os.path.normpath(os.path.join(target, os.path.relpath(folder, source)))
        os.makedirs(here, exist_ok=True)
        for name in names:
            if stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode):
                shutil.copyfile(os.path.join(folder, name), os.path.join(here, name),
                                follow_symlinks=False)
                if uid is not None:
                    os.chown(os.path.join(here, name), uid, uid)
        if uid is not None:
            os.chown(here, uid, uid)


_libc = ctypes.CDLL(None, use_errno=True)

# The kernel's key store outlives processes: a key in the grader's session keyring, or one a
# student adds to a uid's user keyring, would reach the next student of the same slot. The worker
# gets a fresh, empty session keyring, then a seccomp filter refuses every key system call.
KEY_SYSCALLS = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}  # add_key, request_key,
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}              # keyctl
X32_BIT = 0x40000000  # x86_64's x32 ABI: the same calls with this bit set
KEYCTL_JOIN_SESSION_KEYRING, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def keys_supported() -> bool:
    return platform.machine() in KEY_SYSCALLS


def isolate_keys() -> None:
    """Join a new anonymous session keyring, then refuse add_key, request_key and keyctl with
    EPERM for this process and all it starts. Raises OSError if the filter cannot be set."""
    machine = platform.machine()
    if machine not in KEY_SYSCALLS:
        raise OSError(f"key system calls: unknown CPU {machine}; add it to KEY_SYSCALLS")
    numbers = list(KEY_SYSCALLS[machine])
    if machine == "x86_64":
        numbers += [n | X32_BIT for n in numbers]
    keyctl = KEY_SYSCALLS[machine][2]
    _libc.syscall(keyctl, KEYCTL_JOIN_SESSION_KEYRING, None)  # best effort: the filter decides
    ld, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    allow, refuse = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    program = [(ld, 0, 0, 4), (jeq, 1, 0, AUDIT_ARCH[machine]), (ret, 0, 0, allow), (ld, 0, 0, 0)]
    for index, number in enumerate(numbers):  # jump to the last instruction, the refusal
        program.append((jeq, len(numbers) - index, 0, number))
    program += [(ret, 0, 0, allow), (ret, 0, 0, refuse)]
    filters = (_SockFilter * len(program))(*[_SockFilter(*op) for op in program])
    fprog = _SockFprog(len(program), filters)
    if (_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            or _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0)):
        raise OSError(f"seccomp: {os.strerror(ctypes.get_errno())}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    source_, target_, fstype_, data_ = (None if text is None else text.encode()
                                        for text in (source, target, fstype, data))
    if _libc.mount(source_, target_, fstype_, ctypes.c_ulong(flags), data_):
        raise OSError(f"mount {source or ''} on {target}: {os.strerror(ctypes.get_errno())}")


def _expose(root: str, path: str, bound: list[str], depth: int = 0) -> None:
    """Make host ``path`` readable at the same path under ``root``: symlinks on the way are
    copied as symlinks (and their targets exposed), the rest is bind-mounted read-only."""
    covered = lambda p: any(p == b or p.startswith(b + "/") for b in bound)
    parts = [part for part in path.split("/") if part]
    for i in range(len(parts)):
        here = "/" + "/".join(parts[: i + 1])
        if os.path.islink(here) and depth < 40:
            if not covered(here) and not os.path.lexists(root + here):
                _makedirs(root, os.path.dirname(here))
                os.symlink(os.readlink(here), root + here)
            _expose(root, os.path.join(os.path.realpath(here), *parts[i + 1:]), bound, depth + 1)
            return
    if not os.path.exists(path) or covered(path):
        return
    _makedirs(root, os.path.dirname(path))
    if os.path.isdir(path):
        os.makedirs(root + path, exist_ok=True)
    else:
        os.close(os.open(root + path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o644))
    _mount(path, root + path, None, MS_BIND)
    keep = os.statvfs(root + path).f_flag & MS_NOEXEC  # a user namespace may not drop it
    _mount(None, root + path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | keep)
    bound.append(path)


def _makedirs(root: str, path: str) -> None:
    """mkdir -p of ``root + path`` that never goes through a symlink (it could lead out)."""
    here = root
    for part in [part for part in path.split("/") if part]:
        here = os.path.join(here, part)
        if os.path.islink(here) or (os.path.lexists(here) and not os.path.isdir(here)):
            raise OSError(f"{here[len(root):]} is in the way of a path to expose")
        if not os.path.lexists(here):
            os.mkdir(here, 0o755)


def _build_root(config: dict) -> None:
    root, uid, size = config["stage"], config["uid"], config["tmp_mb"]
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for name, options in ((WORKDIR, f"mode=755,uid={uid},gid={uid}"), ("/tmp", "mode=1777")):
        os.mkdir(f"{root}{name}")
        _mount("tmpfs", f"{root}{name}", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size}m,{options}")
    if config["files"]:
        try:
            _copy_files(config["files"], f"{root}{WORKDIR}", uid)
        except OSError as error:
            raise OSError(f"copying {config['files']} into {WORKDIR}: {error} (is it bigger than "
                          f"Limits.tmp_mb={size}?)") from None
    for name in ("etc", "dev", "proc"):
        os.mkdir(f"{root}/{name}", 0o755)
    users = {0: ("root", "/root"), uid: ("student", WORKDIR), 65534: ("nobody", "/nonexistent")}
    for name, text in {"passwd": "".join(f"{n}:x:{u}:{u}::{h}:/bin/sh\n"
                                         for u, (n, h) in users.items()),
                       "group": "".join(f"{n}:x:{u}:\n" for u, (n, _) in users.items()),
                       "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n"}.items():
        Path(f"{root}/etc/{name}").write_text(text)
    bound: list[str] = []
    for path in config["expose"]:
        _expose(root, path, bound)
    for name in DEVICES:
        Path(f"{root}/dev/{name}").touch()
        _mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for name, target in DEV_LINKS.items():
        os.symlink(target, f"{root}/dev/{name}")
    os.mkdir(f"{root}/dev/pts")
    try:  # terminals of its own, as IPython runs `!command` in one (a new devpts instance)
        _mount("devpts", f"{root}/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620")
        os.symlink("pts/ptmx", f"{root}/dev/ptmx")
    except OSError:  # then `!command` fails in the student's cell, nothing else
        pass
    try:
        _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    except OSError:
        if uid != 0:  # root mode: a real failure; user namespace: the container forbids it
            raise
    _libc.sethostname(b"sandbox", 7)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    parent = os.open(os.path.dirname(root), os.O_RDONLY | os.O_DIRECTORY)
    os.chdir(root)  # pivot_root(".", "."), then detach the old root stacked on top of ours
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unknown CPU {platform.machine()}; add it to SYS_PIVOT_ROOT")
    if _libc.syscall(number, b".", b".") or _libc.umount2(b".", MNT_DETACH):
        raise OSError(f"pivot_root: {os.strerror(ctypes.get_errno())}")
    os.rmdir(os.path.basename(root), dir_fd=parent)  # the host's empty folder we built on
    os.close(parent)
    os.chdir(WORKDIR)


def _init(config: dict) -> None:
    null = os.open("/dev/null", os.O_RDONLY)  # the worker's stdin, instead of the config pipe
    os.dup2(null, 0)
    os.close(null)
    try:
        _build_root(config)
    except OSError as error:
        sys.stderr.write(f"sandbox: cannot build the worker's file system: {error}\n")
        os._exit(125)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a SIGINT is for the worker, not for pid 1
    worker = os.fork()
    if worker == 0:
        try:
            for name in ("SIGINT", "SIGPIPE", "SIGXFSZ"):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
            _set_rlimits(config["rlimits"])
            if config.get("isolate_keys"):
                isolate_keys()
            os.execve(config["argv"][0], config["argv"], config["env"])
        except OSError as error:
            sys.stderr.write(f"sandbox: cannot start {config['argv'][0]}: {error}\n")
        os._exit(127)
    while True:  # reap the orphans too; leave when the worker is done
        pid, status = os.wait()
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__" and sys.argv[1:] == ["--init"]:
    _init(json.load(sys.stdin))
