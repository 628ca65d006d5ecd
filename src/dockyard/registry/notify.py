"""Webhook notifications: push and delete events POSTed as the reference registry's envelope.

Events are queued and sent by one background task so a slow or dead endpoint never delays a
push; each delivery is retried a bounded number of times with backoff, and the queue is
bounded too (when full, new events are dropped and logged rather than growing memory).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)

ENVELOPE_TYPE = "application/vnd.docker.distribution.events.v1+json"


def event(action: str, target: dict[str, Any], request: dict[str, Any], actor: str | None) -> dict[str, Any]:
    """One event of the envelope: what happened to which target, on whose request."""
    return {
        "id": str(uuid.uuid4()),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "action": action,
        "target": target,
        "request": request,
        "actor": {"name": actor} if actor else {},
        "source": {"addr": socket.gethostname()},
    }


class Notifier:
    def __init__(self, urls: list[str], *, attempts: int = 3, timeout: float = 5.0, backoff: float = 0.2,
                 queue_size: int = 1000) -> None:
        self.urls = list(urls)
        self.attempts = attempts
        self.timeout = timeout
        self.backoff = backoff
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._task: asyncio.Task | None = None

    def publish(self, ev: dict[str, Any]) -> None:
        if not self.urls:
            return
        try:
            self._queue.put_nowait(ev)
        except asyncio.QueueFull:
            log.warning("notification queue full, dropped %s event %s", ev["action"], ev["id"])

    async def start(self) -> None:
        if self.urls:
            self._task = asyncio.create_task(self._run())

    async def stop(self, drain_seconds: float = 2.0) -> None:
        """Give queued events a short chance to go out, then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        except asyncio.TimeoutError:
            log.warning("stopping with %d notification(s) unsent", self._queue.qsize())
        self._task.cancel()

    async def _run(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            while True:
                ev = await self._queue.get()
                body = json.dumps({"events": [ev]}).encode()
                for url in self.urls:
                    await self._deliver(session, url, body, ev)
                self._queue.task_done()

    async def _deliver(self, session, url: str, body: bytes, ev: dict[str, Any]) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                async with session.post(url, data=body, headers={"Content-Type": ENVELOPE_TYPE}) as resp:
                    if resp.status < 300:
                        return
                    reason = f"HTTP {resp.status}"
            except Exception as exc:  # any network failure is retried, then given up
                reason = str(exc) or type(exc).__name__
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        log.warning("gave up notifying %s of event %s after %d attempts: %s", url, ev["id"], self.attempts, reason)
