"""Mounting a snapshot with mount(2) itself: a `mount` process per container start costs
more than everything else the mount does (fuse-overlayfs alone needs its program)."""

from __future__ import annotations

import ctypes
import errno
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


def mount(m: Mount, target: str | os.PathLike, *, throwaway: bool = False) -> None:
    """`throwaway`: what is written there goes when the container exits (`--rm`), so a kernel
    overlay need never sync it (its `volatile` option, as Podman mounts `--rm` containers):
    without it, the unmount syncs the whole upper filesystem, 5-14 ms on a busy host."""
    target = os.fspath(target)
    if m.type == "fuse-overlayfs":
        _fuse_overlayfs(m, target)
        return
    if m.type == "bind":
        flags = MS_BIND | (MS_REC if "rbind" in m.options else 0)
        fstype, data = None, None
    else:
        options = m.options
        if m.type == "overlay":
            _forget_volatile(options)
            if throwaway:
                options = [*options, "volatile"]
        flags, fstype, data = 0, m.type.encode(), ",".join(options).encode()
    if _c().mount(m.source.encode(), target.encode(), fstype, flags, data) != 0:
        err = ctypes.get_errno()
        if fstype == b"overlay" and throwaway and err == errno.EINVAL:  # a kernel before 5.10
            mount(m, target)
            return
        raise DockyardError(f"cannot mount the container's filesystem on {target}: {os.strerror(err)}")
    if m.type == "bind" and "ro" in m.options:
        if _c().mount(None, target.encode(), None, MS_BIND | MS_RDONLY | MS_REMOUNT, None) != 0:
            err = ctypes.get_errno()
            unmount(target)
            raise DockyardError(f"cannot make {target} read-only: {os.strerror(err)}")


def _forget_volatile(options: list[str]) -> None:
    """Overlay refuses to mount an upper it once mounted `volatile` until the mark it leaves
    in the work dir goes (containers/storage removes it before each mount too). Only a
    `--rm` container's upper has one, mounted again only if that container is restarted
    or copied into before it is removed; what it may lack after a crash is throwaway."""
    work = next((o[len("workdir="):] for o in options if o.startswith("workdir=")), "")
    mark = os.path.join(work, "work", "incompat", "volatile")
    if work and os.path.lexists(mark):
        import shutil
        shutil.rmtree(mark, ignore_errors=True)


def unmount(target: str | os.PathLike) -> None:
    """Whatever is mounted there, lazily if it is busy; nothing mounted is fine (safe to call
    twice). Not os.path.ismount: a bind mount from the same filesystem looks like no mount."""
    path = os.fspath(target).encode()
    if _c().umount2(path, 0) != 0 and ctypes.get_errno() == errno.EBUSY:
        _c().umount2(path, MNT_DETACH)


def _fuse_overlayfs(m: Mount, target: str) -> None:
    """The program mounts, then stays in the background serving the mount until it is unmounted."""
    import subprocess

    from dockyard.snapshots.fuse_overlay import program

    try:
        r = subprocess.run([program(), "-o", ",".join(m.options), target], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise DockyardError(f"cannot mount the container's filesystem on {target}: {program()}: {e.strerror}") from None
    if r.returncode or not os.path.ismount(target):
        why = " ".join(line for line in r.stderr.splitlines() if "unknown argument ignored" not in line)
        raise DockyardError(f"cannot mount the container's filesystem on {target}: {program()}: "
                            f"{why.strip() or f'exit status {r.returncode}'}")
