"""`Server-Timing: app;dur=MS` on every response the hub builds in one piece (pages, JSON, manifests),
so a browser's developer tools show how long the server took. Streamed responses (blobs, live
logs) send their headers before the time is known and go without."""

from __future__ import annotations

import time

from aiohttp import web


@web.middleware
async def server_timing(request: web.Request, handler):
    started = time.perf_counter()
    resp = await handler(request)
    if isinstance(resp, web.StreamResponse) and not resp.prepared:
        resp.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return resp
