"""Who may start and cancel builds, delete tags and set retention of a repository: its maintainers.

One function, so that finer permissions (teams, per-repository roles) change only here. Today
a maintainer is whoever the registry lets push the repository: on a hub without accounts
that is every visitor (anyone may push), with accounts a signed-in user the registry's rules
give `push` on it.
"""

from __future__ import annotations

from dockyard.hub.access import HubAccess, Visitor
from dockyard.registry import acl
from dockyard.registry.auth import TokenAccess


def is_maintainer(access: HubAccess, visitor: Visitor, repo: str) -> bool:
    if not access.has_accounts:
        return True
    if visitor.user is None:
        return False
    if isinstance(access.inner, TokenAccess):
        return "push" in acl.allowed(access.inner.rules, visitor.user, repo)
    return True
