"""A cross-process reader/writer lock on the root (flock on `<root>/lock`).

Operations that add content (load, pull, build, run) take it shared, so they run side by
side; garbage collection takes it exclusive, so it never deletes what another process is
about to reference.

Within one process (the API server runs many requests on threads) the lock is also a
reader/writer lock between threads: the process holds one shared flock while any thread
holds it shared, and a thread wanting it exclusive first waits for the process's other
threads to let go, then takes the flock exclusively. Holds nest within a thread, and
`held` is true while the process holds it shared (so a failing worker of a build does not
start a garbage collection under its own build) or this thread holds it exclusively.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class RootLock:
    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / "lock"
        self._cond = threading.Condition()
        self._shared = 0              # shared holds across the process's threads
        self._shared_fd: int | None = None
        self._exclusive_owner: int | None = None
        self._local = threading.local()  # this thread's nesting depth

    def _open(self, mode: int) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._exclusive_owner == me:  # shared inside exclusive: already covered
            yield
            return
        with self._cond:
            self._cond.wait_for(lambda: self._exclusive_owner is None)
            if self._shared == 0:
                self._shared_fd = self._open(fcntl.LOCK_SH)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if self._shared == 0:
                    os.close(self._shared_fd)
                    self._shared_fd = None
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._exclusive_owner == me:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._cond:
            self._cond.wait_for(lambda: self._exclusive_owner is None and self._shared == 0)
            self._exclusive_owner = me
        try:
            fd = self._open(fcntl.LOCK_EX)
        except BaseException:
            self._release_exclusive()
            raise
        self._local.depth = 1
        try:
            yield
        finally:
            os.close(fd)
            self._release_exclusive()

    def _release_exclusive(self) -> None:
        with self._cond:
            self._exclusive_owner = None
            self._cond.notify_all()

    @property
    def held(self) -> bool:
        return self._shared > 0 or self._exclusive_owner == threading.get_ident()


_queues: dict[str, threading.Lock] = {}
_queues_guard = threading.Lock()


def _queue(path: Path) -> threading.Lock:
    with _queues_guard:
        return _queues.setdefault(str(path.absolute()), threading.Lock())


def _fresh_queues() -> None:
    """A forked child has only the forking thread: queues other threads held stay free for it."""
    global _queues, _queues_guard
    _queues, _queues_guard = {}, threading.Lock()


os.register_at_fork(after_in_child=_fresh_queues)


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """An exclusive flock on the file `path` (made, with its directory, if missing) while held.

    A process's threads queue for it among themselves first, so only one of them at a time
    waits on the flock: the API server with fifty busy clients then competes for the lock as
    one process, as a CLI on the same root does, instead of fifty times over (the kernel wakes
    every flock waiter on release and the quickest wins, which starved the CLI)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _queue(path), open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
