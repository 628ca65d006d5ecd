"""The API list's copy with many containers (api/containercache.py): when a status ticks ("Up 59
seconds" becomes "Up About a minute"), the statuses are written again, not the list rebuilt
from the records. With 1,000 containers started at different times one of them ticks every
few milliseconds, so rebuilding then brought `GET /containers/json` down to a few requests a second."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from dockyard.api.containercache import ClockedList, ContainerCache
from dockyard.containers.record import Container, new_state, rfc3339
from dockyard.containers.views import status_stable_until, status_text

T0 = 1_800_000_000.0


def container(i: int, status: str, started: float, labels: dict | None = None) -> Container:
    state = {**new_state(), "Status": status, "Running": status == "running", "StartedAt": rfc3339(started)}
    if status == "exited":
        state.update(ExitCode=3, FinishedAt=rfc3339(started + 5))
    return Container(f"{i:064x}", f"c{i}", T0 - 600, "busybox", "sha256:" + "0" * 64, {"Labels": labels or {}},
                     {"NetworkMode": "bridge"}, state=state)


def summary(c: Container, now: float) -> dict:
    """A row shaped as views.summary's (Status between State and HostConfig), as of `now`."""
    return {"Id": c.id, "Names": ["/" + c.name], "Labels": c.config["Labels"], "State": c.status,
            "Status": status_text(c, now), "HostConfig": c.host_config, "Mounts": []}


CONTAINERS = [container(0, "running", T0 - 59.5), container(1, "exited", T0 - 3000, {"Status": '"Up", {}'}),
              container(2, "created", 0), container(3, "running", T0 - 3599.2)]


@pytest.mark.parametrize("now", [T0, T0 + 0.6, T0 + 1, T0 + 61, T0 + 3600 * 5])
def test_a_rendered_list_is_byte_for_byte_json_dumps_of_its_rows_at_that_time(now):
    body, until = ClockedList([summary(c, T0) for c in CONTAINERS], CONTAINERS).render(now)
    assert body == json.dumps([summary(c, now) for c in CONTAINERS]).encode()
    assert until == min(status_stable_until(c, now) for c in CONTAINERS)
    assert ClockedList([], []).render(now) == (b"[]", float("inf"))


class Quiet:  # nothing changed in the DB or the shims
    def changed(self) -> bool:
        return False


class QuietEngine:
    class containers:
        @staticmethod
        def watch():
            return Quiet()


def test_a_status_ticking_renews_the_copy_without_rebuilding_the_list(monkeypatch):
    cache, builds, clock = ContainerCache(QuietEngine()), [], [T0]
    monkeypatch.setattr("dockyard.api.containercache.time.time", lambda: clock[0])

    def build():
        builds.append(clock[0])
        return ClockedList([summary(c, clock[0]) for c in CONTAINERS], CONTAINERS)

    async def get() -> bytes:
        return await cache.body(("list", ""), build)

    async def run():
        cache._current()  # the first look at the watch counts as a change
        for step in (0, 0.1, 0.6, 1.2, 70, 4000):
            clock[0] = T0 + step
            assert await get() == json.dumps([summary(c, clock[0]) for c in CONTAINERS]).encode()

    asyncio.run(run())
    assert builds == [T0]  # built once; every tick after that only wrote the statuses again


def test_requests_that_miss_at_once_wait_for_one_build():
    cache, builds = ContainerCache(QuietEngine()), []

    def build():
        builds.append(1)
        time.sleep(0.05)  # in the thread pool: the other requests arrive meanwhile
        return ClockedList([summary(c, T0) for c in CONTAINERS], CONTAINERS)

    async def run():
        cache._current()
        return await asyncio.gather(*(cache.body(("list", ""), build) for _ in range(16)))

    bodies = asyncio.run(run())
    assert len(builds) == 1 and len(set(bodies)) == 1
