"""Kernel calls the runtime needs, through ctypes, behind one seam.

Python's standard library lacks mount, pivot_root, unshare, setns (before 3.12), capset and
sethostname, so they are called here through libc. Every kernel call that changes mount or
namespace state goes through a `Syscalls` object so that the container set-up logic can be
run without root against a recording fake (see tests/unit/runtime).
"""

from __future__ import annotations

import ctypes
import os

from dockyard.runtime.shim.records import process_start_time  # noqa: F401 (kept here for its callers)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# OCI namespace type -> (clone flag, name under /proc/<pid>/ns)
NAMESPACES = {
    "user": (CLONE_NEWUSER, "user"),
    "ipc": (CLONE_NEWIPC, "ipc"),
    "uts": (CLONE_NEWUTS, "uts"),
    "network": (CLONE_NEWNET, "net"),
    "pid": (CLONE_NEWPID, "pid"),
    "cgroup": (CLONE_NEWCGROUP, "cgroup"),
    "mount": (CLONE_NEWNS, "mnt"),
}

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# syscall numbers glibc has no wrapper for
_SYSCALL_NUMBERS = {
    "x86_64": {"pivot_root": 155, "capset": 126},
    "aarch64": {"pivot_root": 41, "capset": 91},
}


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Syscalls:
    """The real kernel: each method is one system call and raises OSError on failure."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._numbers = _SYSCALL_NUMBERS.get(os.uname().machine, _SYSCALL_NUMBERS["x86_64"])

    def _check(self, result: int, call: str, *args: object) -> None:
        if result < 0:
            code = ctypes.get_errno()
            detail = " ".join(repr(a) for a in args)
            raise OSError(code, f"{call} {detail}: {os.strerror(code)}")

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
        result = self._libc.mount(source.encode(), target.encode(), fstype.encode(),
                                  ctypes.c_ulong(flags), data.encode() if data else None)
        self._check(result, "mount", source, target, fstype)

    def umount2(self, target: str, flags: int) -> None:
        self._check(self._libc.umount2(target.encode(), flags), "umount", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        result = self._libc.syscall(self._numbers["pivot_root"], new_root.encode(),
                                    put_old.encode())
        self._check(result, "pivot_root", new_root)

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), "unshare", hex(flags))

    def setns(self, fd: int, nstype: int) -> None:
        self._check(self._libc.setns(fd, nstype), "setns", hex(nstype))

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), "sethostname", name)

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.setdomainname(raw, len(raw)), "setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0,
              arg5: int = 0) -> None:
        result = self._libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                                  ctypes.c_ulong(arg4), ctypes.c_ulong(arg5))
        self._check(result, "prctl", option, arg2)

    def seccomp_filter(self, program: bytes) -> None:
        """Install a classic BPF seccomp program (8 bytes an instruction). Without no_new_privs
        this needs CAP_SYS_ADMIN, as libseccomp's own load does."""
        buf = ctypes.create_string_buffer(program, len(program))
        fprog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
        result = self._libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                                  ctypes.c_ulong(0), ctypes.c_ulong(0))
        self._check(result, "prctl", "PR_SET_SECCOMP")

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """Set this thread's three capability sets, given as 64-bit masks."""
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        for i in range(2):
            shift = 32 * i
            data[i].effective = (effective >> shift) & 0xFFFFFFFF
            data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
            data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
        result = self._libc.syscall(self._numbers["capset"], ctypes.byref(header), data)
        self._check(result, "capset")

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)


def describe(err: BaseException) -> str:
    """One line for a failure while setting a container up: the message of our own errors,
    `reason: path` for a system call's, never a traceback."""
    message = getattr(err, "message", None)
    if message:
        return message
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return str(err) or type(err).__name__
