"""A busy Engine API: clients on threads, each looping over container list, create, start,
inspect and remove through docker-py, until told to stop or their deadline passes. Shared by
the fairness test and benchmarks/run_under_load.py."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator


class ApiLoad:
    def __init__(self, url: str, clients: int, deadline: float, prefix: str = "load", rate: float = 0) -> None:
        """`rate`: loops per second of all clients together at most (0: as fast as they can)."""
        self.url, self.prefix, self.deadline, self.rate = url, prefix, deadline, rate
        self._next_slot = time.monotonic()
        self._slots = threading.Lock()
        self.loops = [0] * clients
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def _client(self, i: int) -> None:
        import docker

        low = docker.APIClient(base_url=self.url, timeout=self.deadline)
        try:
            while not self._stop.is_set() and time.monotonic() - self._started < self.deadline:
                if self.rate and self._stop.wait(self._wait_for_slot()):
                    break
                low.containers(all=True)
                c = low.create_container("busybox", ["true"], name=f"{self.prefix}{i}-{self.loops[i]}")
                low.start(c["Id"])
                low.inspect_container(c["Id"])
                low.remove_container(c["Id"], force=True)
                self.loops[i] += 1
        except Exception as e:  # the caller reports it, with the client's number
            self.errors.append(f"client {i}: {e}")

    def _wait_for_slot(self) -> float:
        """Seconds until this client's next loop may start, at `rate` loops per second."""
        with self._slots:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1 / self.rate
        return slot - now

    @property
    def total(self) -> int:
        return sum(self.loops)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Each client finishes the loop it is in (its container removed), then ends."""
        self._stop.set()
        for t in self._threads:
            t.join(self.deadline)


@contextmanager
def api_load(url: str, clients: int, deadline: float, prefix: str = "load", rate: float = 0) -> Iterator[ApiLoad]:
    """The clients run while the block does."""
    load = ApiLoad(url, clients, deadline, prefix, rate)
    load.start()
    try:
        yield load
    finally:
        load.stop()
