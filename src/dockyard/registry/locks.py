"""The reference lock between writers and an online garbage collector.

Writers (a blob upload finishing, a mount, a manifest push) hold it shared while they check
that a blob exists, stamp its mtime and write the link that references it. The collector
holds it exclusively for an instant at its start (so every writer that began earlier has
finished) and again around the deletion of each blob (so no writer can be halfway through
referencing that blob). `flock` works across processes, so `dockyard registry gc` in another
process is as safe as a collector inside the server.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class ReferenceLock:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _held(self, mode: int) -> Iterator[None]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def shared(self):
        return self._held(fcntl.LOCK_SH)

    def exclusive(self):
        return self._held(fcntl.LOCK_EX)
