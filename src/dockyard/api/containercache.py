"""`GET /containers/json` and `GET /containers/{id}/json` answered from memory while nothing changed.

Tools poll these two (compose, testcontainers, dashboards). Building the answer reads every
row of the DB and every running container's shim files; a copy of the finished body stays
right until one of them changes, and a StateWatch (containers/watch.py) tells that at the
start of each request with one epoll and one PRAGMA: a commit by any process, a shim that
records an exit, a restart or a health status, a shim that died. So a container killed from
outside shows as exited in the first answer after its shim recorded it, as without a copy.
What reads with the clock ("Up 5 seconds") is kept only as long as it reads the same.
"""

from __future__ import annotations

import time
from typing import Callable

from aiohttp import web

from dockyard.api.requests import blocking

_MAX_ENTRIES = 512  # distinct queries and references kept at once (a burst of others clears them)
_RUNNING = ("running", "paused", "restarting")


class ContainerCache:
    def __init__(self, engine) -> None:
        self._engine = engine
        self._watch = None
        self._generation = 0
        self._bodies: dict[tuple, tuple[int, float, bytes]] = {}  # key -> (generation, good until, body)

    def _current(self) -> int:
        if self._watch is None:
            self._watch = self._engine.containers.watch()
        if self._watch.changed():
            self._generation += 1
            self._bodies.clear()
        return self._generation

    def follow(self, containers) -> None:
        """Watch the shims of the running ones among `containers`: before their state is read."""
        for c in containers:
            if c.status in _RUNNING:
                self._watch.follow(self._engine.containers.shim_dir(c.id))

    async def body(self, key: tuple, build: Callable[[], tuple[bytes, float]]) -> bytes:
        """The body for `key`: the copy if still right, else `build()` -> (body, good until) in
        the thread pool."""
        generation = self._current()
        hit = self._bodies.get(key)
        if hit is not None and hit[0] == generation and time.time() < hit[1]:
            return hit[2]
        data, until = await blocking(build)
        if generation == self._generation:  # nothing changed while it was built
            if len(self._bodies) >= _MAX_ENTRIES:
                self._bodies.clear()
            self._bodies[key] = (generation, until, data)
        return data

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()


CACHE = web.AppKey("container_cache", ContainerCache)


def setup(app: web.Application, engine) -> None:
    app[CACHE] = ContainerCache(engine)

    async def close(app: web.Application) -> None:
        app[CACHE].close()
    app.on_cleanup.append(close)


def json_response(data: bytes) -> web.Response:
    return web.Response(body=data, headers={"Content-Type": "application/json"})
