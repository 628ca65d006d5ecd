"""Builds by their Solve's Ref: the status updates so far (for any number of Status streams),
and what the gateway calls of the same build hand each other."""

from __future__ import annotations

import asyncio


class Job:
    """One build (a Solve's Ref): the status updates so far, for any number of Status streams."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.updates: list[bytes] = []
        self.finished = False
        self.cancelled = False
        self.results: dict[str, object] = {}          # gateway result ID -> image
        self.progress = None                          # its StatusProgress, made by the first step
        loop = asyncio.get_running_loop()
        self.session_id: asyncio.Future = loop.create_future()  # set by Control.Solve, awaited by the gateway
        self.returned: asyncio.Future = loop.create_future()    # the gateway's Return: an image, or its error
        self._wake = asyncio.Event()

    def publish(self, update: bytes) -> None:
        self.updates.append(update)
        self._wake.set()

    def refuse(self, err: Exception) -> None:
        """The Solve asked for what is not served: gateway calls waiting for it get `err`."""
        if not self.session_id.done():
            self.session_id.set_exception(err)
            self.session_id.exception()  # retrieved: no warning when no gateway call waits

    def finish(self) -> None:
        self.finished = True
        self._wake.set()

    async def changed(self) -> None:
        self._wake.clear()
        await self._wake.wait()


class Jobs:
    """Builds by Ref; a finished one is kept a while, as a Status call may come late."""

    KEEP = 64

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def get(self, ref: str) -> Job:
        job = self._jobs.get(ref)
        if job is None:
            job = self._jobs[ref] = Job(ref)
            finished = [r for r, j in self._jobs.items() if j.finished]
            for old in finished[:max(0, len(finished) - self.KEEP)]:
                del self._jobs[old]
        return job
