"""Who is calling and whether they may: no auth, htpasswd Basic auth, or a built-in token service.

The mode comes from one string (the `--auth` flag):

* `None`                 anyone may do anything (a private registry on loopback, tests)
* `htpasswd:FILE`        HTTP Basic auth against bcrypt entries; any valid user may do anything
* `token:FILE` or `token:htpasswd=FILE[,acl=FILE][,anonymous=pull][,service=NAME][,realm=URL][,key=FILE][,ttl=SECONDS]`
                         Docker's token flow: the registry answers 401 with
                         `WWW-Authenticate: Bearer realm=.../token,service=...,scope=...`, the client
                         gets a signed token from `/token` (Basic auth or anonymous) carrying the
                         actions the access-control rules grant (see acl.py), and presents it.
                         A valid token without the needed action gets 403 DENIED.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument
from dockyard.registry import acl, errors, names
from dockyard.registry.htpasswd import Htpasswd
from dockyard.registry.tokens import TokenSigner, load_key

if TYPE_CHECKING:
    from aiohttp import web

USER_KEY = "registry.user"


@dataclass(frozen=True)
class Scope:
    """One resource and the actions wanted on it, as written in a token scope string."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope | None:
    """`repository:NAME:pull,push` → Scope; None if malformed. NAME may not contain ':'."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[1]:
        return None
    kind = parts[0].split("(", 1)[0]  # "repository(plugin)" carries a class we ignore
    return Scope(kind, parts[1], tuple(a for a in parts[2].split(",") if a))


@dataclass(frozen=True)
class Identity:
    """An authenticated caller (user None = anonymous) and the actions it holds per resource."""

    user: str | None
    grants: dict[tuple[str, str], frozenset[str]] | None = field(default=None)  # None = everything

    def can(self, kind: str, name: str, action: str) -> bool:
        if self.grants is None:
            return True
        held = self.grants.get((kind, name), frozenset())
        return action in held or "*" in held


EVERYONE = Identity(None)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep and user else None


async def check_password(htpasswd: Htpasswd, creds: tuple[str, str]) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, htpasswd.verify, *creds)


class Access:
    """No authentication: every caller may do everything."""

    async def authenticate(self, request: "web.Request", needed: Scope | None) -> Identity:
        return EVERYONE

    def install(self, app: "web.Application") -> None:
        """Add the routes this mode serves besides /v2/ (the token endpoint)."""


class BasicAccess(Access):
    challenge = 'Basic realm="dockyard-registry"'

    def __init__(self, htpasswd: Htpasswd) -> None:
        self.htpasswd = htpasswd

    async def authenticate(self, request: "web.Request", needed: Scope | None) -> Identity:
        creds = basic_credentials(request.headers.get("Authorization"))
        if creds is None or not await check_password(self.htpasswd, creds):
            raise errors.unauthorized(headers={"WWW-Authenticate": self.challenge})
        return Identity(creds[0])


class TokenAccess(Access):
    def __init__(
        self,
        htpasswd: Htpasswd,
        rules: list[acl.Rule],
        signer: TokenSigner,
        realm: str | None = None,
    ) -> None:
        self.htpasswd = htpasswd
        self.rules = rules
        self.signer = signer
        self.realm = realm

    def _challenge(self, request: "web.Request", needed: Scope | None, error: str | None = None) -> str:
        realm = self.realm or f"{request.scheme}://{request.host}/token"
        parts = [f'Bearer realm="{realm}"', f'service="{self.signer.service}"']
        if needed is not None:
            parts.append(f'scope="{needed}"')
        if error:
            parts.append(f'error="{error}"')
        return ",".join(parts)

    async def authenticate(self, request: "web.Request", needed: Scope | None) -> Identity:
        header = request.headers.get("Authorization", "")
        claims = self.signer.verify(header[7:].strip()) if header.lower().startswith("bearer ") else None
        if claims is None:
            error = "invalid_token" if header else None
            raise errors.unauthorized(
                detail=[{"Type": needed.type, "Name": needed.name, "Action": a} for a in needed.actions] if needed else None,
                headers={"WWW-Authenticate": self._challenge(request, needed, error)},
            )
        grants: dict[tuple[str, str], frozenset[str]] = {}
        for entry in claims.get("access") or []:
            key = (entry.get("type", ""), entry.get("name", ""))
            grants[key] = grants.get(key, frozenset()) | frozenset(entry.get("actions") or ())
        identity = Identity(claims.get("sub") or None, grants)
        if needed is not None and not all(identity.can(needed.type, needed.name, a) for a in needed.actions):
            raise errors.denied(detail={"scope": str(needed)})
        return identity

    def _grant(self, user: str | None, scope: Scope) -> list[str]:
        if scope.type == "repository" and names.is_valid_name(scope.name):
            held = acl.allowed(self.rules, user, scope.name)
            return sorted(a for a in scope.actions if a in held or (a == "*" and held == acl.ALL_ACTIONS))
        if scope.type == "registry" and scope.name == "catalog" and user is not None:
            return ["*"]
        return []

    async def token_endpoint(self, request: "web.Request") -> "web.Response":
        from aiohttp import web

        user = None
        if "Authorization" in request.headers:
            creds = basic_credentials(request.headers["Authorization"])
            if creds is None or not await check_password(self.htpasswd, creds):
                raise errors.unauthorized("invalid username or password")
            user = creds[0]
            request[USER_KEY] = user
        access = []
        for text in request.query.getall("scope", []):
            for item in text.split():
                scope = parse_scope(item)
                granted = self._grant(user, scope) if scope else []
                if granted:
                    access.append({"type": scope.type, "name": scope.name, "actions": granted})
        token, issued = self.signer.issue(user or "", access)
        return web.json_response(
            {
                "token": token,
                "access_token": token,
                "expires_in": self.signer.ttl,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued)),
            }
        )

    def install(self, app: "web.Application") -> None:
        app.router.add_get("/token", self.token_endpoint)


def _options(text: str) -> dict[str, str]:
    if "=" not in text:
        return {"htpasswd": text}
    opts = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"token auth option {item!r} is not KEY=VALUE")
        opts[key.strip()] = value.strip()
    return opts


def from_spec(spec: str | None, root: Path) -> Access:
    """Build the access mode described by an `--auth` value (see the module docstring)."""
    if not spec or spec == "none":
        return Access()
    mode, _, rest = spec.partition(":")
    if mode == "htpasswd" and rest:
        return BasicAccess(Htpasswd(rest))
    if mode == "token" and rest:
        opts = _options(rest)
        unknown = set(opts) - {"htpasswd", "acl", "anonymous", "service", "realm", "key", "ttl"}
        if unknown or "htpasswd" not in opts:
            raise InvalidArgument(f"token auth needs htpasswd=FILE; unknown options: {', '.join(sorted(unknown)) or 'none'}")
        rules = acl.load_rules(opts["acl"]) if "acl" in opts else [acl.parse_rule("* * pull,push,delete")]
        if opts.get("anonymous", "none") not in ("none", "pull"):
            raise InvalidArgument("token auth option anonymous must be 'pull' or 'none'")
        if opts.get("anonymous") == "pull":
            rules.append(acl.parse_rule("anonymous * pull"))
        key = Path(opts["key"]).read_bytes() if "key" in opts else load_key(root / "token.key")
        signer = TokenSigner(key, opts.get("service", "dockyard-registry"), ttl=int(opts.get("ttl", "300")))
        return TokenAccess(Htpasswd(opts["htpasswd"]), rules, signer, opts.get("realm"))
    raise InvalidArgument(f"unknown --auth {spec.split(':', 1)[0]!r}: use htpasswd:FILE or token:...")

