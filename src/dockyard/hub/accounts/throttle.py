"""Guessing passwords is slowed down: after `LIMIT` failures for one user from one address within
`WINDOW` seconds, that pair is refused (HTTP 429 with Retry-After) until the oldest failure ages out.
Kept in memory: a restart forgets, which costs an attacker a restart of the hub to get past."""

from __future__ import annotations

import time
from collections import deque

LIMIT = 10
WINDOW = 300.0
MAX_KEYS = 10000


class Throttle:
    def __init__(self, limit: int = LIMIT, window: float = WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        now = time.monotonic()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, user: str, address: str) -> int:
        """Seconds until `user` may try again from `address`; 0 if now."""
        times = self._recent((user, address))
        if len(times) < self.limit:
            return 0
        return max(1, int(times[0] + self.window - time.monotonic()) + 1)

    def failed(self, user: str, address: str) -> None:
        if len(self._failures) > MAX_KEYS:
            self._failures.clear()
        self._failures.setdefault((user, address), deque()).append(time.monotonic())

    def succeeded(self, user: str, address: str) -> None:
        self._failures.pop((user, address), None)
