"""`GET /containers/json` and `GET /containers/{id}/json` answered from memory while nothing changed.

Tools poll these two (compose, testcontainers, dashboards). Building the answer reads every
row of the DB and every running container's shim files; a copy of the finished body stays
right until one of them changes, and a StateWatch (containers/watch.py) tells that at the
start of each request with one epoll and one PRAGMA: a commit by any process, a shim that
records an exit, a restart or a health status, a shim that died. So a container killed from
outside shows as exited in the first answer after its shim recorded it, as without a copy.
What reads with the clock ("Up 5 seconds") is kept only as long as it reads the same; then
the list's statuses alone are worked out again (`ClockedList`), not the whole list: with many
containers started at different times, one of them reads otherwise every few milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Callable, Sequence

from aiohttp import web

from dockyard.api.requests import blocking

_MAX_ENTRIES = 512  # distinct queries and references kept at once (a burst of others clears them)
_RUNNING = ("running", "paused", "restarting")


class ContainerCache:
    def __init__(self, engine) -> None:
        self._engine = engine
        self._watch = None
        self._generation = 0
        # key -> (generation, good until, body, its ClockedList if it has one)
        self._bodies: dict[tuple, tuple[int, float, bytes, ClockedList | None]] = {}
        self._building: dict[tuple, tuple[int, asyncio.Future]] = {}  # key -> (generation, its build under way)

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

    async def body(self, key: tuple, build: Callable[[], tuple[bytes, float] | ClockedList]) -> bytes:
        """The body for `key`: the copy if still right, else `build()` in the thread pool:
        (body, good until), or a ClockedList that renews its statuses when they read otherwise."""
        generation = self._current()
        hit = self._bodies.get(key)
        now = time.time()
        if hit is not None and hit[0] == generation:
            if now < hit[1]:
                return hit[2]
            if hit[3] is not None:  # only the clock moved: the statuses again, not the rows
                data, until = hit[3].render(now)
                self._bodies[key] = (generation, until, data, hit[3])
                return data
        built = await self._build_once(key, generation, build)
        clocked = built if isinstance(built, ClockedList) else None
        data, until = clocked.render(time.time()) if clocked else built
        if generation == self._generation:  # nothing changed while it was built
            if len(self._bodies) >= _MAX_ENTRIES:
                self._bodies.clear()
            self._bodies[key] = (generation, until, data, clocked)
        return data

    def _build_once(self, key: tuple, generation: int, build: Callable) -> asyncio.Future:
        """`build()` in the thread pool, once for all the requests for `key` that miss at the
        same time (pollers come in bursts: with 1,000 containers, 16 of them each building the
        list took seconds, and none was answered while they did)."""
        pending = self._building.get(key)
        if pending is None or pending[0] != generation:
            pending = (generation, asyncio.ensure_future(blocking(build)))
            self._building[key] = pending
            pending[1].add_done_callback(lambda _: self._building.pop(key) if self._building.get(key) is pending else None)
        return asyncio.shield(pending[1])  # a client that goes away does not cancel the others' build

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()


class ClockedList:
    """A JSON array of container summaries whose "Status" reads with the clock: everything
    else is encoded once, and `render(now)` fills in the statuses as they read at `now`
    (byte for byte what json.dumps of the whole list gives)."""

    def __init__(self, rows: Sequence[dict], containers: Sequence) -> None:
        self._containers = containers
        self._parts = [_around_status(row) for row in rows]
        self._texts = [""] * len(rows)  # each one's status, as JSON, and until when it reads so
        self._until = [float("-inf")] * len(rows)

    def render(self, now: float) -> tuple[bytes, float]:
        """(body, time until which it reads the same). Only the statuses that read otherwise
        by now are worked out again."""
        from dockyard.containers.views import status_stable_until, status_text
        texts, untils = self._texts, self._until
        for i, c in enumerate(self._containers):
            if not untils[i] > now:
                texts[i], untils[i] = json.dumps(status_text(c, now)), status_stable_until(c, now)
        body = "[" + ", ".join(before + text + after for (before, after), text in zip(self._parts, texts)) + "]"
        return body.encode(), min(untils, default=float("inf"))


def _around_status(row: dict) -> tuple[str, str]:
    """json.dumps(row) in two pieces: before the value of "Status" and after it."""
    keys = list(row)
    at = keys.index("Status")
    head = json.dumps({k: row[k] for k in keys[:at]})[:-1]  # '{"Id": ..., "State": "running"'
    tail = json.dumps({k: row[k] for k in keys[at + 1:]})[1:]  # '"HostConfig": ...}'
    return head + (", " if at else "") + '"Status": ', (", " + tail if tail != "}" else "}")


CACHE = web.AppKey("container_cache", ContainerCache)


def setup(app: web.Application, engine) -> None:
    app[CACHE] = ContainerCache(engine)

    async def close(app: web.Application) -> None:
        app[CACHE].close()
    app.on_cleanup.append(close)


def json_response(data: bytes) -> web.Response:
    return web.Response(body=data, headers={"Content-Type": "application/json"})
