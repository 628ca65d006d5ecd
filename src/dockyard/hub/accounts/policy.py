"""Permission levels, what each lets a caller do, and what a token's scope caps them to.

Levels are Docker Hub's: `read` pulls, `write` also pushes, `admin` also deletes and changes
the repository's settings and permissions. A personal access token carries one scope
(Docker Hub's names): `repo:admin`, `repo:write`, `repo:read` or `repo:public_read`, the most
a request made with it may do, whatever its user holds.
"""

from __future__ import annotations

NONE, READ, WRITE, ADMIN = 0, 1, 2, 3
LEVELS = {"read": READ, "write": WRITE, "admin": ADMIN}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
ACTIONS = {NONE: frozenset(), READ: frozenset({"pull"}), WRITE: frozenset({"pull", "push"}),
           ADMIN: frozenset({"pull", "push", "delete"})}
SCOPES = {"repo:admin": ADMIN, "repo:write": WRITE, "repo:read": READ, "repo:public_read": READ}
OWNERS = "owners"  # the team of an organization whose members administer all its repositories
LIBRARY = "library"  # the namespace of official images (and of one-component names): site admins own it


def namespace(repo: str) -> str:
    """The account a repository belongs to: its first component (`library` for `busybox`)."""
    first, sep, _ = repo.partition("/")
    return first if sep else LIBRARY


def parse_level(text: str) -> int:
    from dockyard.errors import InvalidArgument

    try:
        return LEVELS[text]
    except KeyError:
        raise InvalidArgument(f"unknown permission {text!r}: use read, write or admin") from None


def cap(level: int, scope: str | None, private: bool) -> int:
    """`level` as far as a token of `scope` may use it (None: a password, no cap)."""
    if scope is None:
        return level
    if scope == "repo:public_read" and private:
        return NONE
    return min(level, SCOPES.get(scope, NONE))
