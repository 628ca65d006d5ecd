"""API version negotiation.

dockyard speaks Engine API 1.47 (Docker 27's) and accepts requests down to 1.24, the
oldest version docker-py and Docker 28's daemon still serve. Clients learn the maximum
from the `API-Version` header of `/_ping` (or `ApiVersion` of `/version`) and then prefix
their paths with `/vX.Y/`, which is optional. A version outside the range is refused with
400 and the message dockerd gives, so clients print what their users already know.
Responses do not change shape by version: dockyard answers as 1.47 does, and the few
fields older clients lack are simply ignored by them.
"""

from __future__ import annotations

import re

from aiohttp import web

from dockyard.errors import InvalidArgument

MIN_VERSION = "1.24"
MAX_VERSION = "1.47"
# Every route is registered behind this optional `vX.Y/` segment (see `path`).
_PREFIX = r"/{version:(?:v[0-9]+(?:\.[0-9]+)?/)?}"
_VERSION_RE = re.compile(r"^v([0-9]+)(?:\.([0-9]+))?/$")


def path(route: str) -> str:
    """The router pattern for `route` with and without a version prefix."""
    return _PREFIX + route.lstrip("/")


def _key(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def older(request: web.Request, version: str) -> bool:
    """Whether the request asked for an API version older than `version`."""
    return _key(request.get("api_version") or MAX_VERSION) < _key(version)


def requested(request: web.Request) -> str:
    """The version this request asked for (the maximum when it named none); 400 when out of range."""
    prefix = request.match_info.get("version", "")
    if not prefix:
        return MAX_VERSION
    m = _VERSION_RE.match(prefix)
    if m is None:
        raise InvalidArgument(f"invalid API version prefix {prefix!r}")
    version = f"{m.group(1)}.{m.group(2) or 0}"
    if _key(version) < _key(MIN_VERSION):
        raise InvalidArgument(f"client version {version} is too old. Minimum supported API version is "
                              f"{MIN_VERSION}, please upgrade your client to a newer version")
    if _key(version) > _key(MAX_VERSION):
        raise InvalidArgument(f"client version {version} is too new. Maximum supported API version is {MAX_VERSION}")
    return version
