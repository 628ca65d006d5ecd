"""Mounting a snapshot with mount(2) itself: a `mount` process per container start costs
more than everything else the mount does."""

from __future__ import annotations

import ctypes
import os

from dockyard.errors import DockyardError
from dockyard.snapshots.base import Mount

MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
MNT_DETACH = 2
_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)  # libc is loaded already; find_library runs ldconfig
    return _libc


def mount(m: Mount, target: str | os.PathLike) -> None:
    target = os.fspath(target)
    if m.type == "bind":
        flags = MS_BIND | (MS_REC if "rbind" in m.options else 0)
        fstype, data = None, None
    else:
        flags, fstype, data = 0, m.type.encode(), ",".join(m.options).encode()
    if _c().mount(m.source.encode(), target.encode(), fstype, flags, data) != 0:
        err = ctypes.get_errno()
        raise DockyardError(f"cannot mount the container's filesystem on {target}: {os.strerror(err)}")
    if m.type == "bind" and "ro" in m.options:
        if _c().mount(None, target.encode(), None, MS_BIND | MS_RDONLY | MS_REMOUNT, None) != 0:
            err = ctypes.get_errno()
            unmount(target)
            raise DockyardError(f"cannot make {target} read-only: {os.strerror(err)}")


def unmount(target: str | os.PathLike) -> None:
    """Lazily, and only if something is mounted there: safe to call twice."""
    if os.path.ismount(target):
        _c().umount2(os.fspath(target).encode(), MNT_DETACH)



