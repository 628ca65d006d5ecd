"""The Engine API application: routes by topic over one Engine, and dockerd's error shape.

Every failure leaves as `{"message": "..."}` with the status its DockyardError carries
(400 bad argument, 404 not found, 409 conflict, 500 otherwise), so the docker CLI and
docker-py print the same lines they print against dockerd. Every response carries the
headers clients negotiate with (`Api-Version`, `Server`, `Ostype`).
"""

from __future__ import annotations

import logging

from aiohttp import web

from dockyard import __version__
from dockyard.api import validation, version
from dockyard.api.requests import ENGINE, Handler, ok
from dockyard.errors import DockyardError

log = logging.getLogger("dockyard.api")
_PREPARED = "dockyard.prepared_response"  # the response whose headers went out, if any


def _error(status: int, message: str) -> web.Response:
    return ok({"message": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        request["api_version"] = version.requested(request)
        return await handler(request)
    except DockyardError as e:
        return _error(e.status, e.message)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        message = {404: "page not found", 405: "method not allowed"}.get(e.status, e.text or e.reason)
        return _error(e.status, message)
    except ConnectionError:
        # the client left mid-stream (a `docker run -d` does not read its wait): nothing to say
        return request.get(_PREPARED) or web.Response(status=499)
    except Exception as e:  # a bug: still dockerd's shape, with the traceback in the server's log
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, f"internal error: {type(e).__name__}: {e}")


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    request[_PREPARED] = response
    response.headers.setdefault("Api-Version", version.MAX_VERSION)
    response.headers["Server"] = f"dockyard/{__version__} (linux)"
    response.headers["Ostype"] = "linux"
    response.headers.setdefault("Docker-Experimental", "false")


def make_app(engine) -> web.Application:
    """The application serving `engine` (a dockyard.engine.Engine)."""
    from dockyard.api import build, buildkit, containers, events, exec, images, networks, swarm, system, volumes

    app = web.Application(middlewares=[_errors, validation.check_request], client_max_size=validation.LIMIT)
    app[ENGINE] = engine
    app.on_response_prepare.append(_headers)
    for module in (system, events, images, build, buildkit, volumes, networks, containers, exec, swarm):
        app.add_routes(module.routes)
    containers.setup(app)
    return app
