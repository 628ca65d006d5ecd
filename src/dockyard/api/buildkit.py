"""POST /grpc and POST /session: BuildKit over the Engine API, as dockerd serves it.

Both are HTTP/1.1 requests upgraded to h2c (`101 Switching Protocols`, `Upgrade: h2c`); from
then on the socket is an HTTP/2 connection. On /grpc the client calls the engine's BuildKit
services (dockyard.buildkit.control); on /session the roles turn round and the engine calls
the services the client lists in X-Docker-Expose-Session-Grpc-Method (file sync, auth,
secrets, SSH agents). daemon.json's `"features": {"buildkit": false}` only changes the builder
`_ping` advertises (clients then default to the classic POST /build); like dockerd's, these
endpoints are served either way.
"""

from __future__ import annotations

from aiohttp import web

from dockyard.api import version
from dockyard.api.requests import ENGINE
from dockyard.errors import InvalidArgument

routes = web.RouteTableDef()
BUILDKIT = web.AppKey("buildkit", object)


def enabled(eng) -> bool:
    """daemon.json's features.buildkit (true unless set false): whether `_ping` says
    Builder-Version 2, as dockerd's does."""
    features = eng.config.get("features") or {}
    return features.get("buildkit", True) is not False if isinstance(features, dict) else True


def _state(request: web.Request):
    from dockyard.buildkit.control import BuildKit

    if BUILDKIT not in request.app:
        request.app[BUILDKIT] = BuildKit(request.app[ENGINE])
    return request.app[BUILDKIT]


async def _upgrade(request: web.Request):
    """Answer 101 and take the connection over for h2c; returns the transport."""
    if request.headers.get("Upgrade", "").lower() != "h2c":
        raise InvalidArgument(f"{request.path} wants an upgrade to h2c (Connection: Upgrade, Upgrade: h2c)")
    resp = web.StreamResponse(status=101, reason="Switching Protocols",
                              headers={"Connection": "Upgrade", "Upgrade": "h2c"})
    resp.force_close()
    await resp.prepare(request)
    return resp, request.transport


@routes.post(version.path("/grpc"))
async def grpc(request: web.Request) -> web.StreamResponse:
    from dockyard.buildkit.h2grpc import Connection

    state = _state(request)
    resp, transport = await _upgrade(request)
    conn = Connection(transport, client_side=False, handlers=state.handlers())
    conn.start()
    try:
        await conn.wait_closed()
    finally:
        conn.close()
    return resp


@routes.post(version.path("/session"))
async def session(request: web.Request) -> web.StreamResponse:
    from dockyard.buildkit.h2grpc import Connection
    from dockyard.buildkit.session import Session

    state = _state(request)
    session_id = request.headers.get("X-Docker-Expose-Session-Uuid", "")
    if not session_id:
        raise InvalidArgument("no X-Docker-Expose-Session-Uuid: a session needs an ID")
    methods = {m.strip() for value in request.headers.getall("X-Docker-Expose-Session-Grpc-Method", [])
               for m in value.split(",") if m.strip()}
    name = request.headers.get("X-Docker-Expose-Session-Name", "")
    resp, transport = await _upgrade(request)
    conn = Connection(transport, client_side=True)
    conn.start()
    try:
        await state.sessions.serve(Session(session_id, name, conn, methods))
    finally:
        conn.close()
    return resp
