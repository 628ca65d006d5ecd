"""Reading a request the way dockerd does: the engine, boolean and integer query parameters,
JSON `filters`, JSON bodies, and running blocking engine calls off the event loop."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any, Awaitable, Callable, TypeVar

from aiohttp import web

from dockyard.api import gojson
from dockyard.errors import InvalidArgument

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ENGINE = web.AppKey("engine", object)


def engine(request: web.Request):
    return request.app[ENGINE]


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an engine call in the server's thread pool: the engine does file, DB and process I/O."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args, **kwargs))


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as dockerd reads one (its BoolValueOrDefault): `default` when it is
    absent, else true unless it is empty, `0`, `no`, `false` or `none` (any case)."""
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("", "0", "no", "false", "none")


def integer(request: web.Request, name: str, default: int | None = None,
            bounds: tuple[int, int] | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r} is not an integer") from None
    if bounds is not None and not bounds[0] <= number <= bounds[1]:
        raise InvalidArgument(f"invalid value for {name}: {value!r} is not between {bounds[0]} and {bounds[1]}")
    return number


_FILTERS = gojson.Map(gojson.Map(gojson.BOOL))           # dockerd's filters.Args: {"key": {"value": true}}
_LEGACY_FILTERS = gojson.Map(gojson.Slice(gojson.STRING))  # and the older {"key": ["value"]}


def terminal_size(request: web.Request) -> tuple[int, int]:
    """The `h` and `w` of a resize: rows and columns as a terminal counts them."""
    return integer(request, "h", 0, bounds=(0, 65535)), integer(request, "w", 0, bounds=(0, 65535))


def filters(request: web.Request) -> dict[str, list[str]]:
    """The `filters` parameter, in either of the forms dockerd reads, as {"key": ["value", ...]}."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        doc = gojson.loads(raw)
        if isinstance(doc, dict):  # older clients sent a single value as a plain string
            doc = {k: [v] if isinstance(v, str) else v for k, v in doc.items()}
        try:
            _LEGACY_FILTERS.validate(doc)
        except gojson.TypeMismatch:
            _FILTERS.validate(doc)
    except (ValueError, gojson.TypeMismatch) as e:
        raise InvalidArgument(f"invalid filter: {e}") from None
    return {key: [v for v, on in values.items() if on] if isinstance(values, dict) else list(values or [])
            for key, values in (doc or {}).items()}


BODY_TYPE = "dockyard.body_type"  # the Go type (api/bodies) a request's JSON body decodes into


async def body(request: web.Request, *, required: bool = True) -> dict:
    """The JSON object in the body, its keys named as the fields of the Go struct it decodes into
    (Go matches them whatever their case); 400 with dockerd's wording when it is not one."""
    data = await request.read()
    if not data.strip():
        if required:
            raise InvalidArgument("invalid JSON: request body is empty")
        return {}
    try:
        doc = gojson.loads(data)
    except ValueError as e:
        raise InvalidArgument(f"invalid JSON: {e}") from None
    if doc is None and not required:
        return {}
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid JSON: expected a JSON object")
    typ = request.get(BODY_TYPE)
    if typ is not None:
        typ.canonical(doc)
    return doc


def ok(doc: Any, status: int = 200) -> web.Response:
    """A JSON answer. The Content-Type is exactly `application/json`, without a charset: the
    docker CLI compares it verbatim before it reads an error's message."""
    return web.Response(body=json.dumps(doc).encode(), status=status, headers={"Content-Type": "application/json"})


def no_content() -> web.Response:
    return web.Response(status=204)
