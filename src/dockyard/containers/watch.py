"""Being told when containers' state may have changed, instead of looking again and again.

What a container's state is made of, and how a change of each part is noticed:
- the DB rows (any process's commit): SQLite's `PRAGMA data_version` on a connection of our
  own that never writes, which moves whenever another connection commits;
- what each running container's shim records in its state dir (exit.json, started.json, the
  health file): inotify on that dir;
- the shim's death (SIGKILLed shims record nothing): a pidfd, readable once it has exited.
All the fds sit in one epoll set, so "anything new?" is one syscall, and a wait sleeps in
the kernel until something happens.
"""

from __future__ import annotations

import ctypes
import os
import select
import sqlite3
import threading
from pathlib import Path

from dockyard.runtime.shim.records import process_start_time

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_DELETE_SELF = 0x40, 0x80, 0x100, 0x200, 0x400
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
# a file written in place or renamed into place, a file or the dir itself gone
STATE_EVENTS = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF

_libc = ctypes.CDLL(None, use_errno=True)


class Inotify:
    """A non-blocking inotify fd; `drain` tells whether anything happened since the last call."""

    def __init__(self) -> None:
        fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.fd = fd

    def add(self, path: str | Path, mask: int = STATE_EVENTS) -> bool:
        """Watch a directory; False if it is not there (any more)."""
        return _libc.inotify_add_watch(self.fd, os.fsencode(path), mask) >= 0

    def drain(self) -> bool:
        seen = False
        while True:
            try:
                if not os.read(self.fd, 65536):
                    return seen
                seen = True
            except BlockingIOError:
                return seen

    def close(self) -> None:
        os.close(self.fd)


def shim_pidfd(state_dir: str | Path) -> int | None:
    """A pidfd of the shim that wrote state_dir/shim.pid, or None if it is not running (any more)."""
    try:
        pid, start_time = (int(v) for v in Path(state_dir, "shim.pid").read_text().split())
        fd = os.pidfd_open(pid)
    except (OSError, ValueError):
        return None
    if process_start_time(pid) != start_time:  # a recycled pid, or already a zombie
        os.close(fd)
        return None
    return fd


class StateWatch:
    """Changes to the containers of one engine. `changed()` answers at once; `wait()` sleeps
    until a change (or the timeout). `follow()` adds a container's shim to what is watched:
    call it before reading the container's state, so no change falls between the two."""

    def __init__(self, db_path: str | Path, shims_dir: Path) -> None:
        self._db_path = str(db_path)
        self._db: sqlite3.Connection | None = None  # opened by the first changed()
        self._db_version: int | None = None
        self._inotify = Inotify()
        self._epoll = select.epoll()
        self._epoll.register(self._inotify.fd, select.EPOLLIN)
        self._shims: dict[str, int] = {}  # shim state dir -> pidfd of its shim
        self._lock = threading.Lock()
        shims_dir.mkdir(parents=True, exist_ok=True)
        self._inotify.add(shims_dir, IN_CREATE | IN_DELETE | IN_MOVED_TO)

    def follow(self, path: str | Path, shim: bool = True) -> None:
        """Watch a dir (a shim's state dir, or any dir whose files' coming and going matters)
        and, for a shim's, the shim process until it exits. Cheap to repeat."""
        key = str(path)
        if not self._inotify.add(key) or not shim:
            return  # not there: the caller reads that as "not running"
        with self._lock:
            if key in self._shims:
                return
            fd = shim_pidfd(key)
            if fd is not None:
                self._shims[key] = fd
                self._epoll.register(fd, select.EPOLLIN)

    def changed(self) -> bool:
        """Whether anything may have changed since the last call (True on the first)."""
        if self._db is None:
            self._db = sqlite3.connect(self._db_path, isolation_level=None, check_same_thread=False)
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        seen = version != self._db_version
        self._db_version = version
        return self._events(0) or seen

    def wait(self, timeout: float) -> None:
        """Sleep until a shim records something or exits, or a watched dir changes (not DB commits)."""
        self._events(timeout)

    def _events(self, timeout: float) -> bool:
        ready = self._epoll.poll(timeout)
        if not ready:
            return False
        for fd, _ in ready:
            if fd == self._inotify.fd:
                self._inotify.drain()
                continue
            with self._lock:  # that shim exited: a new one (a new start) is followed afresh
                self._shims = {k: v for k, v in self._shims.items() if v != fd}
                self._epoll.unregister(fd)
                os.close(fd)
        return True

    def close(self) -> None:
        with self._lock:
            for fd in self._shims.values():
                os.close(fd)
            self._shims.clear()
        self._epoll.close()
        self._inotify.close()
        if self._db is not None:
            self._db.close()
