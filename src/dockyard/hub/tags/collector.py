"""Online garbage collection for the hub: after tags go (deleted on the page, expired by a
retention rule), the registry's collector runs in the background and reclaims the blobs no
tag reaches any more. The registry's gc is safe while pushes go on; runs are debounced so a
burst of deletions costs one collection."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEBOUNCE = 0.5


class Collector:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._wanted = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.runs = 0
        self.freed_bytes = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def request(self) -> None:
        """Collect soon (tags were deleted)."""
        self._wanted.set()

    async def _loop(self) -> None:
        from dockyard.registry.gc import gc

        while True:
            await self._wanted.wait()
            await asyncio.sleep(DEBOUNCE)
            self._wanted.clear()
            try:
                report = await asyncio.get_running_loop().run_in_executor(None, gc, self.root)
            except Exception:  # a failed collection must not stop later ones
                log.exception("garbage collection failed")
                continue
            self.runs += 1
            self.freed_bytes += report.freed_bytes
            log.info("garbage collection: %d blob(s) deleted, %d bytes freed", len(report.deleted), report.freed_bytes)
