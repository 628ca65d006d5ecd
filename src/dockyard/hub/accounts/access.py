"""The registry's access mode for `hub serve --auth accounts`: Docker's token flow over the
hub's own accounts, with every request checked against the tables as they are at that moment.

A client without credentials is challenged (`401`, `WWW-Authenticate: Bearer realm=.../token`),
as Docker Hub does; `/token` takes a password or a personal access token over Basic auth (or
nothing, for anonymous pulls of public repositories) and signs a JWT naming the user and, for a
token, its id (for a password, a fingerprint of the password's hash). The JWT grants nothing by itself: each registry request recomputes what its user
may do on the repository, capped by the token's scope, and a revoked token, a removed user or a
withdrawn grant refuses the very next request. Clients may also send Basic credentials on every
request (curl, some CI tools). A user with two-factor sign-in gets nothing for a password here:
registry clients use personal access tokens, the pages and `POST /v2/users/login` ask for the
code after the password (hubapi.py), against a short-lived ticket signed for nothing else.

Web visitors sign in with a form (accounts/web.py) and carry a session cookie; every form
carries the visitor's CSRF token, a random cookie value that a POST must repeat.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from dockyard.hub.access import Visitor
from dockyard.hub.accounts import policy
from dockyard.hub.accounts.store import Accounts
from dockyard.hub.accounts.throttle import Throttle
from dockyard.registry import errors, names
from dockyard.registry.auth import USER_KEY, Access, Identity, Scope, basic_credentials
from dockyard.registry.tokens import TokenSigner, load_key

if TYPE_CHECKING:
    from aiohttp import web

    from dockyard.hub.state import HubState

SESSION_COOKIE = "dyhub_session"
CSRF_COOKIE = "dyhub_csrf"
CSRF_KEY = "hub.csrf.new"
SERVICE = "dockyard-hub"
API_SERVICE = "dockyard-hub-api"
TICKET_SERVICE = "dockyard-hub-2fa"
API_TOKEN_TTL = 24 * 3600
SECOND_FACTOR = "two-factor sign-in is on for this account: use a personal access token"


class TooManyAttempts(errors.RegistryError):
    """Too many failed sign-ins of one user from one address: 429 with Retry-After."""

    def __init__(self, wait: int) -> None:
        super().__init__("TOOMANYREQUESTS", 429, f"too many failed sign-ins: try again in {wait} s",
                         headers={"Retry-After": str(wait)})
        self.wait = wait


@dataclass(frozen=True)
class Principal:
    user: str | None
    scope: str | None = None  # a personal access token's scope; None for a password
    token_id: str | None = None


@dataclass(frozen=True)
class LiveIdentity(Identity):
    """An identity whose rights are looked up when asked (cross-repository mounts ask)."""

    check: Callable[[str, str, str], bool] | None = field(default=None, compare=False)

    def can(self, kind: str, name: str, action: str) -> bool:
        return self.check is not None and self.check(kind, name, action)


class AccountsAccess(Access):
    has_accounts = True

    def __init__(self, accounts: Accounts, state: HubState, key: bytes) -> None:
        self.accounts = accounts
        self.state = state
        self.signer = TokenSigner(key, SERVICE)  # the registry's bearer tokens
        self.api_signer = TokenSigner(key, API_SERVICE, ttl=API_TOKEN_TTL)  # POST /v2/users/login's
        self.ticket_signer = TokenSigner(key, TICKET_SERVICE)  # "password right, now the code": good for nothing else
        self.throttle = Throttle()

    @classmethod
    def open(cls, state: HubState) -> AccountsAccess:
        return cls(Accounts(state.db), state, load_key(state.dir / "token.key"))

    # -- who is calling -------------------------------------------------------------------

    async def principal(self, request: web.Request) -> Principal | None:
        """The caller the request's Authorization header names; None if it names no one valid now."""
        header = request.headers.get("Authorization", "")
        kind, _, value = header.partition(" ")
        if kind.lower() in ("bearer", "jwt"):  # `JWT`: what older Docker Hub API clients send
            claims = self.signer.verify(value.strip()) or self.api_signer.verify(value.strip())
            if claims is None or not claims.get("sub"):
                return None if claims is None else Principal(None)
            return self.claimed(claims)
        creds = basic_credentials(header)
        if creds is None:
            return None
        return self.first_factor_only(await self.attempt(request, *creds))

    def claimed(self, claims: dict) -> Principal | None:
        """Who a token this hub signed names, if that still holds: its access token is active, or
        the password it was issued for is still the user's."""
        user, token_id = claims["sub"], claims.get("tok")
        if token_id:
            scope = self.accounts.active_token_scope(token_id, user)
            return None if scope is None else Principal(user, scope, token_id)
        stamp = self.accounts.password_stamp(user)
        return Principal(user) if stamp is not None and claims.get("pw") == stamp else None

    def first_factor_only(self, found: Principal | None) -> Principal | None:
        """`found`, unless it is a password of a user with two-factor sign-in: then only a personal
        access token will do for registry clients (as on Docker Hub)."""
        if found is not None and found.user and found.scope is None and self.accounts.has_totp(found.user):
            raise errors.unauthorized(SECOND_FACTOR)
        return found

    async def check_secret(self, user: str, secret: str) -> Principal | None:
        """A password or a personal access token of `user`."""
        token = self.accounts.token_by_secret(user, secret)
        if token is not None:
            return Principal(user, token.scope, token.id)
        ok = await asyncio.get_running_loop().run_in_executor(None, self.accounts.check_password, user, secret)
        return Principal(user) if ok else None

    def level(self, principal: Principal, repo: str) -> int:
        private = repo in self.state.private_repos()
        return policy.cap(self.accounts.level(principal.user, repo, private), principal.scope, private)

    def may(self, principal: Principal, kind: str, name: str, action: str) -> bool:
        if kind != "repository" or not names.is_valid_name(name):
            return False
        return action in policy.ACTIONS[self.level(principal, name)]

    # -- the registry's checks ------------------------------------------------------------

    def _challenge(self, request: web.Request, needed: Scope | None, error: str | None = None) -> dict[str, str]:
        parts = [f'Bearer realm="{request.scheme}://{request.host}/token"', f'service="{SERVICE}"']
        if needed is not None:
            parts.append(f'scope="{needed}"')
        if error:
            parts.append(f'error="{error}"')
        return {"WWW-Authenticate": ",".join(parts)}

    async def authenticate(self, request: web.Request, needed: Scope | None) -> Identity:
        header = request.headers.get("Authorization", "")
        principal = await self.principal(request) if header else None
        if principal is None:
            raise errors.unauthorized(headers=self._challenge(request, needed, "invalid_token" if header else None))
        identity = LiveIdentity(principal.user, {}, lambda k, n, a: self.may(principal, k, n, a))
        if needed is None:
            return identity
        if needed.type == "registry":  # the catalog lists private repositories too
            if principal.user and principal.scope is None and self.accounts.is_site_admin(principal.user):
                return identity
            raise errors.denied(detail={"scope": str(needed)})
        level = self.level(principal, needed.name)
        if set(needed.actions) <= policy.ACTIONS[level]:
            return identity
        if principal.user is None:
            raise errors.unauthorized(headers=self._challenge(request, needed, "insufficient_scope"))
        if level == policy.NONE:  # as if it did not exist: a private name is not confirmed
            raise errors.name_unknown(detail={"name": needed.name})
        raise errors.denied(detail={"scope": str(needed)})

    async def token_endpoint(self, request: web.Request) -> web.Response:
        """`GET /token?service=&scope=...` with Basic credentials or none (Docker's token spec)."""
        principal = Principal(None)
        if "Authorization" in request.headers:
            creds = basic_credentials(request.headers["Authorization"])
            principal = await self._signed_in(request, *creds) if creds else await self._signed_in(request, "", "")
        return self._issue(principal, request.query.getall("scope", []))

    async def oauth_token(self, request: web.Request) -> web.Response:
        """`POST /token` with a form, `grant_type=password` (Docker's OAuth2 token spec), as
        containerd-based clients ask first; there are no refresh tokens: a token lives `ttl`."""
        from aiohttp import web

        form = await request.post()
        if form.get("grant_type") != "password":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        principal = await self._signed_in(request, str(form.get("username", "")), str(form.get("password", "")))
        return self._issue(principal, str(form.get("scope", "")).split())

    async def _signed_in(self, request: web.Request, user: str, secret: str) -> Principal:
        found = self.first_factor_only(await self.attempt(request, user, secret))
        if found is None:
            raise errors.unauthorized("incorrect username or password")
        request[USER_KEY] = found.user
        return found

    async def attempt(self, request: web.Request, user: str, secret: str) -> Principal | None:
        """A sign-in (web form or /token) checked against the throttle; TooManyAttempts when too many failed."""
        address = request.remote or ""
        wait = self.throttle.retry_after(user, address)
        if wait:
            raise TooManyAttempts(wait)
        found = await self.check_secret(user, secret) if user and secret else None
        if found is None:
            self.throttle.failed(user, address)
        else:
            self.throttle.succeeded(user, address)
        return found

    def _issue(self, principal: Principal, scopes: list[str]) -> web.Response:
        from aiohttp import web

        access = []
        for text in scopes:
            parts = text.split(":")
            if len(parts) == 3 and parts[0].split("(")[0] == "repository" and names.is_valid_name(parts[1]):
                held = policy.ACTIONS[self.level(principal, parts[1])]
                granted = sorted(a for a in parts[2].split(",") if a in held or (a == "*" and held == policy.ACTIONS[policy.ADMIN]))
                if granted:
                    access.append({"type": "repository", "name": parts[1], "actions": granted})
        token, issued = self.signer.issue(principal.user or "", access, self.claims_of(principal))
        return web.json_response({"token": token, "access_token": token, "expires_in": self.signer.ttl,
                                  "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued)),
                                  "scope": " ".join(scopes)})

    def claims_of(self, principal: Principal) -> dict | None:
        """What a token issued to `principal` carries so that claimed() can check it again later."""
        if principal.token_id:
            return {"tok": principal.token_id}
        return {"pw": self.accounts.password_stamp(principal.user)} if principal.user else None

    def second_factor_ticket(self, user: str) -> str:
        """A short-lived proof that `user` gave the right password, to be completed with a code."""
        return self.ticket_signer.issue(user, [], {"pw": self.accounts.password_stamp(user)})[0]

    async def second_factor(self, request: web.Request, ticket: str, code: str) -> str | None:
        """The user a ticket and their current one-time code sign in; None if either is wrong
        (failures count towards the sign-in throttle, TooManyAttempts when too many)."""
        claims = self.ticket_signer.verify(ticket)
        if claims is None or not claims.get("sub") or self.claimed(claims) is None:
            return None
        user, address = claims["sub"], request.remote or ""
        wait = self.throttle.retry_after(user, address)
        if wait:
            raise TooManyAttempts(wait)
        if not self.accounts.check_totp(user, code):
            self.throttle.failed(user, address)
            return None
        self.throttle.succeeded(user, address)
        return user

    def install(self, app: web.Application) -> None:
        app.router.add_get("/token", self.token_endpoint)
        app.router.add_post("/token", self.oauth_token)
        app.on_response_prepare.append(_set_csrf_cookie)

    # -- web visitors ---------------------------------------------------------------------

    async def visitor(self, request: web.Request) -> Visitor:
        """The user of a web session, or of the request's credentials (API clients: search)."""
        sid = request.cookies.get(SESSION_COOKIE)
        user = self.accounts.session_user(sid) if sid else None
        if user is None and request.headers.get("Authorization"):
            principal = await self.principal(request)
            user = principal.user if principal else None
        csrf = request.cookies.get(CSRF_COOKIE, "")
        if len(csrf) < 32:
            csrf = request.get(CSRF_KEY) or secrets.token_urlsafe(32)
            request[CSRF_KEY] = csrf
        return Visitor(user, csrf)

    def visitor_level(self, visitor: Visitor, repo: str) -> int:
        return self.level(Principal(visitor.user), repo)

    def may_see(self, visitor: Visitor, repo: str, private: frozenset[str]) -> bool:
        return repo not in private or (visitor.user is not None
                                       and self.accounts.level(visitor.user, repo, True) >= policy.READ)

    def readable_private(self, visitor: Visitor, private: frozenset[str]) -> frozenset[str]:
        return self.accounts.readable_private(visitor.user, private)

    def may_maintain(self, user: str | None, repo: str) -> bool:
        """Whether `user` may push to and build `repo` (write or admin)."""
        return user is not None and self.level(Principal(user), repo) >= policy.WRITE


def same_site(request: web.Request) -> bool:
    """Whether a browser's request comes from this site, as far as the browser says (Origin, Sec-Fetch-Site)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


def csrf_ok(request: web.Request, form_value: str) -> bool:
    """A POST repeats the visitor's CSRF cookie, and comes from this site if the browser says where from."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return same_site(request) and len(cookie) >= 32 and hmac.compare_digest(cookie.encode(), form_value.encode())


_MACHINE_PATHS = ("/v2", "/token", "/hooks/", "/v1/")  # clients that send no cookies; webhooks are signed


def make_csrf_guard():
    """Middleware: a page's POST (every form of the hub, whoever wrote it) from another site is refused."""
    from aiohttp import web

    @web.middleware
    async def csrf_guard(request: web.Request, handler):
        if request.method not in ("GET", "HEAD", "OPTIONS") and not request.path.startswith(_MACHINE_PATHS) \
                and not same_site(request):
            return web.Response(status=403, text="Refused: the form was sent from another site.\n")
        return await handler(request)

    return csrf_guard


async def _set_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    csrf = request.get(CSRF_KEY)
    if csrf:  # the response's cookies are already headers when this runs: add the header itself
        response.headers.add("Set-Cookie", f"{CSRF_COOKIE}={csrf}; HttpOnly; Path=/; SameSite=Strict")
