"""Registry authentication: `WWW-Authenticate` challenges, Basic auth and Docker's bearer token flow.

A registry answers 401 with a challenge. `Basic` means: send the user's password with every
request. `Bearer realm=…,service=…,scope=…` means: ask the token server at `realm` for a token
covering the scopes (`repository:<name>:pull,push`), with the user's credentials as Basic auth
(or anonymously), and send that token. Tokens are cached per (realm, service, scopes) until
shortly before they expire, so parallel blob transfers share one token.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass, field

from dockyard.distribution.credentials import Credentials
from dockyard.errors import DockyardError

DEFAULT_TOKEN_LIFETIME = 60
EXPIRY_MARGIN = 10
CLIENT_ID = "dockyard"

_ITEM_RE = re.compile(r'[\s,]*([A-Za-z0-9_.-]+)(\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^",\s]*)))?')


class Unauthorized(DockyardError):
    """The registry or its token server refused us (401/403); `reason` is the token server's
    own word for it, when it gave one."""

    status = 401
    reason = ""


class Denied(Unauthorized):
    """The registry knows who we are (or that we are anonymous) and refuses the action (403)."""

    status = 403


class CredentialsMissing(Unauthorized):
    """The registry wants credentials and none were given. dockerd answers this with 500 (its
    "no basic auth credentials"), not 401, and the docker CLI relies on that: a 401 on a pull
    makes it prompt for a login."""

    status = 500


def refused(host: str, creds: Credentials | None, reason: str = "") -> Unauthorized:
    """The error for a registry (or token server) that answered 401 to `creds`; `reason` is
    the server's own word for it (see token_refusal), which a login passes on."""
    if creds and creds.given():
        err = Unauthorized(f"unauthorized: incorrect username or password for {host}")
    else:
        err = CredentialsMissing(f"unauthorized: authentication required; run `dockyard login {host}`")
    err.reason = reason
    return err


def token_refusal(resp) -> str:
    """A token server's refusal (4xx) in the words the docker distribution client gives it:
    a bearer challenge's error_description, the body's `details`, or its registry errors
    (`unauthorized: ...`, `toomanyrequests: ...`)."""
    for c in parse_challenges(resp.headers.get("WWW-Authenticate", "")):
        code = {"invalid_token": "unauthorized", "insufficient_scope": "denied"}.get(c.params.get("error", ""))
        if c.scheme == "bearer" and code:
            default = "authentication required" if code == "unauthorized" else "requested access to the resource is denied"
            return f"{code}: {c.params.get('error_description') or default}"
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("details"), str) and body["details"]:
        code = {401: "unauthorized", 429: "toomanyrequests"}.get(resp.status_code, "unknown")
        return f"{code}: {body['details']}"
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
        said = [f"{str(e.get('code') or 'unknown').lower().replace('_', ' ')}: {e.get('message') or ''}" for e in errors]
        return said[0] if len(said) == 1 else "errors:\n" + "".join(f"{s}\n" for s in said)
    if resp.status_code == 401:
        return "unauthorized: authentication required"
    return f"error parsing HTTP {resp.status_code} response body: {resp.text!r}"


@dataclass(frozen=True)
class Challenge:
    """One auth scheme offered by a `WWW-Authenticate` header, with its parameters (lower-case keys)."""

    scheme: str
    params: dict = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse `Bearer realm="…",service="…", Basic realm="…"` into challenges, in the order offered.

    A word followed by `=` is a parameter of the current challenge; a bare word starts the next.
    """
    challenges: list[Challenge] = []
    for m in _ITEM_RE.finditer(header):
        name, has_value, quoted, plain = m.groups()
        if not has_value:
            challenges.append(Challenge(name.lower(), {}))
        elif challenges:
            challenges[-1].params[name.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain
    return challenges


def basic_header(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


class Authenticator:
    """Turns a challenge plus the scopes a request needs into an `Authorization` header value.

    With `offline`, token requests ask for a refresh token as well (`offline_token=true`, what a
    login does); one the token server gives is kept in `refresh_token`, the identity token a
    client may store instead of the password.
    """

    def __init__(self, host: str, creds: Credentials | None, *, offline: bool = False) -> None:
        self.host = host
        self.creds = creds
        self.offline = offline
        self.refresh_token = ""
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def header(self, http, challenge: Challenge, scopes: tuple[str, ...]) -> str | None:
        """The header to send, fetching a token if needed; None when the scheme needs nothing we have."""
        if self.creds and self.creds.registry_token:
            return "Bearer " + self.creds.registry_token
        if challenge.scheme == "basic":
            return basic_header(self.creds) if self.creds and self.creds.username else None
        if challenge.scheme != "bearer":
            raise DockyardError(f"registry {self.host} asks for unsupported auth scheme {challenge.scheme!r}")
        realm = challenge.params.get("realm")
        if not realm:
            raise DockyardError(f"registry {self.host} sent a bearer challenge without a realm")
        service = challenge.params.get("service", "")
        key = (realm, service, tuple(sorted(scopes)))
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return "Bearer " + cached[0]
        token, lifetime = self._fetch_token(http, realm, service, scopes)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(lifetime - EXPIRY_MARGIN, 1))
        return "Bearer " + token

    def forget(self, scopes: tuple[str, ...]) -> None:
        """Drop cached tokens for these scopes: the registry refused one, so ask again."""
        with self._lock:
            for key in [k for k in self._tokens if k[2] == tuple(sorted(scopes))]:
                del self._tokens[key]

    def _fetch_token(self, http, realm: str, service: str, scopes: tuple[str, ...]) -> tuple[str, int]:
        import httpx

        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        creds = self.creds
        try:
            if creds and creds.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                        "client_id": CLIENT_ID, "service": service, "scope": " ".join(scopes)}
                if self.offline:
                    form["access_type"] = "offline"
                resp = http.post(realm, data=form)
            else:
                headers = {}
                if creds and creds.username:
                    headers["Authorization"] = basic_header(creds)
                    params.append(("account", creds.username))
                    if self.offline:
                        params += [("offline_token", "true"), ("client_id", CLIENT_ID)]
                resp = http.get(realm, params=params, headers=headers)
        except httpx.TransportError as e:
            raise DockyardError(f"cannot reach token server {realm} for {self.host}: {e}") from None
        if resp.status_code in (401, 403):
            raise refused(self.host, creds, token_refusal(resp))
        if resp.status_code != 200:
            raise DockyardError(f"token server {realm} for {self.host} answered {resp.status_code}")
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
            lifetime = int(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
            refresh = body.get("refresh_token") or ""
        except (ValueError, AttributeError, TypeError):
            raise DockyardError(f"token server {realm} for {self.host} sent a malformed answer") from None
        if not token:
            raise DockyardError(f"token server {realm} for {self.host} sent no token")
        if self.offline and isinstance(refresh, str) and refresh:
            self.refresh_token = refresh
        return token, lifetime
