"""Reading a request the way dockerd does: the engine, boolean and integer query parameters,
JSON `filters`, JSON bodies, and running blocking engine calls off the event loop."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any, Callable, TypeVar

from aiohttp import web

from dockyard.errors import InvalidArgument

T = TypeVar("T")
ENGINE = web.AppKey("engine", object)


def engine(request: web.Request):
    return request.app[ENGINE]


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an engine call in the server's thread pool: the engine does file, DB and process I/O."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """Go's strconv.ParseBool as dockerd applies it to query parameters (`1`, `true`, `True`...)."""
    value = request.query.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "t", "true", "yes"):
        return True
    if value.lower() in ("0", "f", "false", "no"):
        return False
    raise InvalidArgument(f"invalid value for {name}: {value!r} is not a boolean")


def integer(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r} is not an integer") from None


def filters(request: web.Request) -> dict[str, list[str]]:
    """The `filters` parameter: `{"key": ["v", ...]}`, or the old `{"key": {"v": true}}` form."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filter: {raw!r} is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, values in doc.items():
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        elif isinstance(values, str):
            values = [values]
        out[key] = [str(v) for v in values]
    return out


async def body(request: web.Request, *, required: bool = True) -> dict:
    """The JSON object in the body; 400 with dockerd's wording when it is not one."""
    data = await request.read()
    if not data.strip():
        if required:
            raise InvalidArgument("invalid JSON: request body is empty")
        return {}
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise InvalidArgument(f"invalid JSON: {e}") from None
    if doc is None and not required:
        return {}
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid JSON: expected a JSON object")
    return doc


def ok(doc: Any, status: int = 200) -> web.Response:
    """A JSON answer. The Content-Type is exactly `application/json`, without a charset: the
    docker CLI compares it verbatim before it reads an error's message."""
    return web.Response(body=json.dumps(doc).encode(), status=status, headers={"Content-Type": "application/json"})


def no_content() -> web.Response:
    return web.Response(status=204)
