"""Registry credentials a client sends with a request, as dockerd reads them.

`X-Registry-Auth` (pull, push, distribution inspect) is one AuthConfig, `X-Registry-Config`
(build) maps registries to AuthConfigs; both are base64url JSON. POST /auth has an AuthConfig
as its body. Like dockerd, a header that does not decode counts as no credentials, and so does
an AuthConfig without any: the engine then uses the logins stored on its own host.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from dockyard.api import gojson
from dockyard.distribution.credentials import Credentials
from dockyard.distribution.endpoints import normalize_host
from dockyard.errors import InvalidArgument

AUTH_HEADER = "X-Registry-Auth"
CONFIG_HEADER = "X-Registry-Config"
_FIELDS = {"username": "username", "password": "password", "identitytoken": "identity_token",
           "registrytoken": "registry_token"}


def from_authconfig(doc: object) -> Credentials | None:
    """The credentials in an AuthConfig object; None when it names none. InvalidArgument when
    it is not one (a field that is not a string), in dockerd's words."""
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid JSON: expected an AuthConfig object")
    values = {}
    for key, name in _FIELDS.items():
        value = doc.get(key) or ""
        if not isinstance(value, str):
            raise InvalidArgument(f"invalid JSON: {key} must be a string")
        values[name] = value
    creds = Credentials(**values)
    return creds if creds.given() else None


def _decode(raw: str) -> object:
    """The JSON document in a base64url header (padding optional); None when it is not one."""
    raw = raw.strip()
    try:
        return gojson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        return None


def credentials(request: web.Request) -> Credentials | None:
    """The request's X-Registry-Auth credentials, or None (use the engine's stored logins)."""
    raw = request.headers.get(AUTH_HEADER, "")
    try:
        return from_authconfig(_decode(raw)) if raw else None
    except InvalidArgument:
        return None


def credential_map(request: web.Request) -> dict[str, Credentials]:
    """The request's X-Registry-Config as registry domain (`docker.io`, `host:port`) -> credentials."""
    raw = request.headers.get(CONFIG_HEADER, "")
    doc = _decode(raw) if raw else None
    out: dict[str, Credentials] = {}
    for server, config in (doc.items() if isinstance(doc, dict) else ()):
        try:
            creds = from_authconfig(config)
        except InvalidArgument:
            continue
        if creds is not None:
            out[normalize_host(server)] = creds
    return out
