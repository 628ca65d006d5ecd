"""What every request must be before a handler sees it.

- No parameter, in the query or the path, holds a NUL byte: no name, reference, path or
  option dockerd takes can, and the kernel would refuse it deep inside the engine.
- A JSON body says it is `application/json` (dockerd's CheckForJSON) and is of the Go types
  dockerd decodes it into (see bodies), else 400 with dockerd's sentences, so handlers and the
  engine only meet values of the types they expect.
- A body read whole is limited in size; one announced larger is refused from its
  Content-Length, unread (streamed bodies, images and build contexts, are not limited).
"""

from __future__ import annotations

from aiohttp import web

from dockyard.api.bodies import BODIES
from dockyard.api.gojson import TypeMismatch, loads
from dockyard.api.requests import BODY_TYPE, Handler, ok
from dockyard.errors import InvalidArgument

LIMIT = 64 << 20  # bytes of a body read whole (a JSON document)


def _route(request: web.Request) -> tuple[str, str] | None:
    """The request's route as BODIES names it: its method and path without the version prefix."""
    resource = request.match_info.route.resource
    return (request.method, resource.canonical.replace("/{version}", "/", 1)) if resource is not None else None


def _check_parameters(request: web.Request) -> None:
    for name, value in [*request.query.items(), *request.match_info.items()]:
        if "\x00" in value:
            raise InvalidArgument(f"invalid value for {name}: it contains a NUL byte")


def _check_content_type(request: web.Request) -> None:
    given = request.headers.get("Content-Type", "")
    if not given and not request.body_exists:
        return
    media = given.split(";", 1)[0].strip().lower()
    if not media:
        raise InvalidArgument(f"malformed Content-Type header ({given}): mime: no media type")
    if media != "application/json":
        raise InvalidArgument(f"unsupported Content-Type header ({given}): must be 'application/json'")


async def _check_body(request: web.Request, typ) -> web.Response | None:
    _check_content_type(request)
    size = request.content_length
    if size is not None and size > LIMIT:
        resp = ok({"message": f"request body too large: {size} bytes, the limit is {LIMIT} bytes"}, status=413)
        resp.force_close()  # the body stays unread, so the connection cannot carry another request
        return resp
    data = await request.read()
    try:
        doc = loads(data, keep_number_text=True) if data.strip() else None
    except ValueError:
        return None  # not JSON at all: the handler's body() says so
    try:
        typ.validate(doc)
    except TypeMismatch as e:
        raise InvalidArgument(f"invalid JSON: {e}") from None
    return None


@web.middleware
async def check_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    _check_parameters(request)
    typ = BODIES.get(_route(request))
    if typ is not None:
        request[BODY_TYPE] = typ  # body() names the fields as typ does
    refused = await _check_body(request, typ) if typ is not None else None
    return refused or await handler(request)
