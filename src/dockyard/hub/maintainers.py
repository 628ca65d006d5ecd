"""Who may start and cancel builds, delete tags and set retention of a repository: its maintainers.

One function, so that finer permissions change only here. With the hub's own accounts
(`--auth accounts`) a maintainer is a signed-in user holding `write` or `admin` on the
repository (accounts/policy.py). Otherwise it is whoever the registry lets push the
repository: on a hub without accounts every visitor (anyone may push), with htpasswd or token
auth a signed-in user the registry's rules give `push` on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.hub.access import HubAccess, Visitor
from dockyard.registry import acl
from dockyard.registry.auth import TokenAccess

if TYPE_CHECKING:
    from dockyard.hub.accounts.access import AccountsAccess


def is_maintainer(access: HubAccess | AccountsAccess, visitor: Visitor, repo: str) -> bool:
    if not isinstance(access, HubAccess):
        return access.may_maintain(visitor.user, repo)
    if not access.has_accounts:
        return True
    if visitor.user is None:
        return False
    if isinstance(access.inner, TokenAccess):
        return "push" in acl.allowed(access.inner.rules, visitor.user, repo)
    return True
