"""Grammar of what a client may name in a registry URL: repositories, tags and references.

Names become directory paths under the registry root, so they are checked here, before any
path is built: the grammar rules out `..`, upper case, empty components and leading
separators, which is what keeps a request inside its repository directory.
"""

from __future__ import annotations

import re

# OCI distribution spec 1.1, "Pulling manifests": <name> grammar.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_DIGEST_LIKE_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")

# Docker's limit on a full reference is 255 characters; the name part must leave room for
# a host, so the reference implementation caps names at 255 as well.
MAX_NAME_LENGTH = 255


def is_valid_name(name: str) -> bool:
    """True if `name` is a repository name the spec allows."""
    return len(name) <= MAX_NAME_LENGTH and bool(_NAME_RE.match(name))


def is_valid_tag(tag: str) -> bool:
    return bool(_TAG_RE.match(tag))


def looks_like_digest(reference: str) -> bool:
    """A manifest reference containing ':' is a digest (tags cannot contain ':')."""
    return bool(_DIGEST_LIKE_RE.match(reference))
