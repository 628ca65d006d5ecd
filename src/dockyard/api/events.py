"""GET /events: the shared event log, replayed from `since` and followed until `until`.

No process sees every change happen (the CLI, shims and this server all write), so the
stream polls the log by sequence number; a poll is one indexed query, and an idle stream
costs one every POLL seconds.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from dockyard.api import version
from dockyard.api.requests import blocking, engine, filters
from dockyard.errors import InvalidArgument
from dockyard.store.events import matches

routes = web.RouteTableDef()
POLL = 0.1
_FILTERS = ("type", "event", "action", "container", "image", "volume", "network", "label", "scope", "daemon", "plugin",
            "node", "service", "secret", "config")


def parse_time(value: str, now: float) -> float:
    """dockerd's time values: unix seconds (`1700000000` or `1700000000.5`), RFC3339, or a
    Go duration back from now (`10m`, `1h30m`)."""
    from dockyard.containers.views import parse_time as parse

    try:
        return float(value)
    except ValueError:
        pass
    if value and value[-1] in "smh" and value[0].isdigit() and "T" not in value:
        total, number = 0.0, ""
        units = {"h": 3600, "m": 60, "s": 1}
        for ch in value:
            if ch.isdigit() or ch == ".":
                number += ch
            elif ch in units and number:
                total, number = total + float(number) * units[ch], ""
            else:
                raise InvalidArgument(f"invalid duration {value!r}")
        return now - total
    return parse(value)


@routes.get(version.path("/events"))
async def events(request: web.Request) -> web.StreamResponse:
    wanted = filters(request)
    for key in wanted:
        if key not in _FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    now = time.time()
    since = parse_time(request.query["since"], now) if request.query.get("since") else None
    until = parse_time(request.query["until"], now) if request.query.get("until") else None
    if since is not None and until is not None and until < since:
        raise InvalidArgument(f"`since` time ({request.query['since']}) cannot be after `until` time "
                              f"({request.query['until']})")
    log = engine(request).events
    # without `since`, only what happens from now on
    after = 0 if since is not None else await blocking(log.last_seq)
    since_nano = int(since * 1e9) if since is not None else 0
    until_nano = int(until * 1e9) if until is not None else None
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    while True:
        batch = await blocking(lambda: list(log.read(after_seq=after, since_nano=since_nano, until_nano=until_nano)))
        for event in batch:
            after = event.pop("seq")
            if matches(event, wanted):
                await resp.write(json.dumps(event).encode() + b"\n")
        if until is not None and time.time() > until:
            break
        await asyncio.sleep(POLL)
    await resp.write_eof()
    return resp

