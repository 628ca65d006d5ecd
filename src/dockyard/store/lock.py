"""A cross-process reader/writer lock on the root (flock on `<root>/lock`).

Operations that add content (load, pull, build, run) take it shared, so they run side by
side; garbage collection takes it exclusive, so it never deletes what another process is
about to reference.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class RootLock:
    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / "lock"
        self._fd: int | None = None
        self._depth = 0
        self._mode = 0

    @contextmanager
    def _hold(self, mode: int) -> Iterator[None]:
        if self._depth and (self._mode == fcntl.LOCK_EX or mode == self._mode):
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, mode)
        prev = (self._fd, self._depth, self._mode)
        self._fd, self._depth, self._mode = fd, 1, mode
        try:
            yield
        finally:
            os.close(fd)
            self._fd, self._depth, self._mode = prev

    @property
    def held(self) -> bool:
        return self._depth > 0

    def shared(self):
        return self._hold(fcntl.LOCK_SH)

    def exclusive(self):
        return self._hold(fcntl.LOCK_EX)
