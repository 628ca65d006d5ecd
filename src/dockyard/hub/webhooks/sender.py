"""Sending webhook deliveries: one background task, each delivery retried with backoff.

A delivery is a POST of the JSON payload with `X-Hub-Signature-256: sha256=HMAC-SHA256(secret,
body)` (as GitHub signs, so receivers can reuse their verification), `X-Dockyard-Event` and
`X-Dockyard-Delivery`. Any 2xx answer delivers it; anything else is retried ATTEMPTS times,
each attempt's answer recorded. Redelivering sends a recorded payload again as a new delivery.
"""

from __future__ import annotations

import asyncio
import json
import logging

from dockyard.hub.hooks import signature
from dockyard.hub.webhooks.store import DELIVERED, FAILED, PENDING, Webhook, Webhooks

log = logging.getLogger(__name__)

ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the second attempt, doubled for each further one
TIMEOUT = 10.0


class Sender:
    def __init__(self, hooks: Webhooks) -> None:
        self.hooks = hooks
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def emit(self, repo: str, event: str, payload: dict) -> list[int]:
        """Record and queue a delivery to every webhook of `repo` that wants `event`."""
        ids = [self.hooks.record(hook, event, payload) for hook in self.hooks.of(repo) if hook.wants(event)]
        for delivery_id in ids:
            self._queue.put_nowait(delivery_id)
        return ids

    def redeliver(self, delivery_id: int) -> int:
        old = self.hooks.delivery(delivery_id)
        new = self.hooks.record(self.hooks.get(old.hook), old.event, json.loads(old.payload))
        self._queue.put_nowait(new)
        return new

    async def _run(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
            while True:
                delivery_id = await self._queue.get()
                try:
                    delivery = self.hooks.delivery(delivery_id)
                    hook = self.hooks.get(delivery.hook)
                except Exception:  # the webhook was removed meanwhile
                    continue
                await self._deliver(session, hook, delivery.id, delivery.event, delivery.payload.encode())

    async def _deliver(self, session, hook: Webhook, delivery_id: int, event: str, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "dockyard-hub", "X-Dockyard-Event": event,
                   "X-Dockyard-Delivery": str(delivery_id)}
        if hook.secret:
            headers["X-Hub-Signature-256"] = signature(hook.secret, body)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with session.post(hook.url, data=body, headers=headers) as resp:
                    ok, response = resp.status < 300, f"HTTP {resp.status}"
            except Exception as exc:  # any network failure is recorded and retried
                ok, response = False, (str(exc) or type(exc).__name__)[:200]
            status = DELIVERED if ok else (FAILED if attempt == ATTEMPTS else PENDING)
            self.hooks.attempt(delivery_id, response, status)
            if ok:
                return
            if attempt < ATTEMPTS:
                await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
        log.warning("webhook %s: delivery %d failed after %d attempts: %s", hook.url, delivery_id, ATTEMPTS, response)
