"""Who may see which repository: the registry's accounts plus the hub's private flag.

The hub adds no accounts of its own. A web visitor signs in with HTTP Basic against the
registry's htpasswd file; a private repository is shown only to a signed-in user whom the
registry's rules let pull it, and the registry API refuses it to anonymous callers too
(`NAME_UNKNOWN`, as if it did not exist), so hiding it on the page hides it everywhere.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.registry import acl, errors
from dockyard.registry.auth import (
    Access,
    BasicAccess,
    Identity,
    Scope,
    TokenAccess,
    basic_credentials,
    check_password,
)

# bcrypt makes each check cost tens of milliseconds; a page view should not, so a verified
# Authorization header is remembered (by its hash) for a short while.
VERIFIED_TTL = 300.0

if TYPE_CHECKING:
    from aiohttp import web

    from dockyard.hub.state import HubState


@dataclass(frozen=True)
class Visitor:
    """A web visitor: a verified user name (None for anonymous) and, with the hub's own
    accounts, the CSRF token its forms carry."""

    user: str | None
    csrf: str = ""


class HubAccess(Access):
    """The registry's access mode with private repositories closed to anonymous callers."""

    def __init__(self, inner: Access, state: HubState) -> None:
        self.inner = inner
        self.state = state
        self._verified: dict[str, tuple[str, float]] = {}

    @property
    def has_accounts(self) -> bool:
        return isinstance(self.inner, (BasicAccess, TokenAccess))

    async def authenticate(self, request: web.Request, needed: Scope | None) -> Identity:
        identity = await self.inner.authenticate(request, needed)
        if (needed is not None and needed.type == "repository" and identity.user is None and self.has_accounts
                and needed.name in self.state.private_repos()):
            raise errors.name_unknown(detail={"name": needed.name})
        return identity

    def install(self, app: web.Application) -> None:
        self.inner.install(app)

    async def visitor(self, request: web.Request) -> Visitor:
        """The signed-in user of a web request; anonymous when no or wrong credentials are sent."""
        if not self.has_accounts:
            return Visitor(None)
        header = request.headers.get("Authorization", "")
        key = hashlib.sha256(header.encode()).hexdigest()
        user, until = self._verified.get(key, ("", 0.0))
        if until > time.monotonic():
            return Visitor(user)
        creds = basic_credentials(header)
        if creds is None or not await check_password(self.inner.htpasswd, creds):  # type: ignore[attr-defined]
            return Visitor(None)
        if len(self._verified) > 1000:
            self._verified.clear()
        self._verified[key] = (creds[0], time.monotonic() + VERIFIED_TTL)
        return Visitor(creds[0])

    def may_see(self, visitor: Visitor, repo: str, private: frozenset[str]) -> bool:
        if repo not in private:
            return True
        if visitor.user is None:
            return False
        if isinstance(self.inner, TokenAccess):
            return "pull" in acl.allowed(self.inner.rules, visitor.user, repo)
        return True

    def readable_private(self, visitor: Visitor, private: frozenset[str]) -> frozenset[str]:
        """Which of the private repositories `visitor` may see."""
        return frozenset(r for r in private if self.may_see(visitor, r, private))
