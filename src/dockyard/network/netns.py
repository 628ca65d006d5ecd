"""Network namespaces kept alive by a bind mount of their nsfs file, as `ip netns` does, but under
dockyard's run dir instead of /run/netns so that nothing outside dockyard sees or reaps them.

A namespace is made by a short-lived thread: unshare(CLONE_NEWNET) affects only the calling
thread, so the engine process itself never changes namespace, and no fork is needed (~3 ms).
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from pathlib import Path
from typing import Callable, TypeVar

from dockyard.errors import DockyardError

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2

T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise DockyardError(f"{what}: {os.strerror(err)}")


def _in_thread(fn: Callable[[], T]) -> T:
    """Run `fn` on a fresh thread (whose namespace changes die with it) and return or raise its result."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    t = threading.Thread(target=run, name="dockyard-netns")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def create(path: Path) -> None:
    """A new, empty network namespace pinned at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=False)

    def make() -> None:
        _check(_libc.unshare(CLONE_NEWNET), "cannot create a network namespace")
        _check(_libc.mount(b"/proc/thread-self/ns/net", os.fsencode(path), None, MS_BIND, None),
               f"cannot pin network namespace at {path}")

    try:
        _in_thread(make)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def remove(path: Path) -> None:
    """Unpin and delete; the kernel frees the namespace (and its veth ends) once no process is in it."""
    if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise DockyardError(f"cannot unmount network namespace {path}: {os.strerror(err)}")
    path.unlink(missing_ok=True)


def run_in(path: str | Path, fn: Callable[[], T]) -> T:
    """Call `fn` with the calling thread inside the namespace at `path` (sockets it opens stay there)."""

    def enter_and_run() -> T:
        fd = os.open(path, os.O_RDONLY)
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), f"cannot enter network namespace {path}")
        finally:
            os.close(fd)
        return fn()

    return _in_thread(enter_and_run)
