"""Image references with Docker's normalisation (`nginx` -> `docker.io/library/nginx:latest`).

Users type short names; registries, the store and `docker` all need the same canonical
form, so every front end parses through here and errors name the rule that was broken.
"""

from __future__ import annotations

from collections import namedtuple

from dockyard.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_NAME = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"


class _Grammar:
    """The reference grammar's expressions, compiled by the first parse(): `images` reads the
    store's names with stored(), which needs neither them nor `re` (~4 ms to import)."""

    def __init__(self) -> None:
        import re

        self.path = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
        self.domain = re.compile(rf"^(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$")
        self.tag = re.compile(r"^[\w][\w.-]{0,127}$")
        self.digest = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
        self.hex64 = re.compile(r"^[a-f0-9]{64}$")


_grammar: _Grammar | None = None


class Reference(namedtuple("Reference", "domain path tag digest", defaults=("", ""))):
    """A parsed reference; `tag` and `digest` may both be empty (a bare repository name).
    An immutable named tuple rather than a dataclass: `pull` of an up-to-date image imports
    little else, and dataclasses (with inspect) would be a sixth of its time."""

    __slots__ = ()

    @property
    def repository(self) -> str:
        """Fully qualified name without tag or digest: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_repository(self) -> str:
        """The name as `docker images` shows it: `busybox`, `user/app`, `host:5000/app`."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path[len(OFFICIAL_PREFIX):] if self.path.startswith(OFFICIAL_PREFIX) else self.path
        return self.repository

    def with_default_tag(self) -> "Reference":
        """Docker's TagNameOnly: a name with neither tag nor digest means `:latest`."""
        if self.tag or self.digest:
            return self
        return Reference(self.domain, self.path, DEFAULT_TAG)

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.domain, self.path, tag)

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    @property
    def familiar(self) -> str:
        s = self.familiar_repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    if i == -1:
        return DEFAULT_DOMAIN, name
    first = name[:i]
    if not any(c in first for c in ".:") and first != "localhost" and first.lower() == first:
        return DEFAULT_DOMAIN, name
    domain, rest = first, name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    return domain, rest


def _split(text: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of a reference's text; tag and digest None where it has none."""
    name, digest = text, None
    if "@" in name:
        name, digest = name.split("@", 1)
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest


def stored(text: str) -> Reference:
    """A name as the store keeps it (parsed and normalised when it came in), split again
    without checking it against the grammar."""
    name, tag, digest = _split(text)
    return Reference(*_split_domain(name), tag or "", digest or "")


def parse(text: str) -> Reference:
    """Parse and normalise a reference the way `docker pull NAME` does."""
    global _grammar
    if _grammar is None:
        _grammar = _Grammar()
    g = _grammar
    if not text:
        raise InvalidArgument("invalid reference format: the image name is empty")
    if g.hex64.match(text):
        raise InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    name, tag, digest = _split(text)
    if digest is not None and not g.digest.match(digest):
        raise InvalidArgument(f"invalid reference format: bad digest {digest!r} in {text!r}")
    if tag is not None and not g.tag.match(tag):
        raise InvalidArgument(
            f"invalid reference format: tag {tag!r} in {text!r} must be 1-128 of [A-Za-z0-9_.-], not starting with . or -"
        )
    tag, digest = tag or "", digest or ""
    domain, path = _split_domain(name)
    if not g.domain.match(domain):
        raise InvalidArgument(f"invalid reference format: registry host {domain!r} in {text!r} is not a valid host[:port]")
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if path.lower() != path and g.path.match(path.lower()):
        raise InvalidArgument(f"invalid reference format: repository name ({path}) must be lowercase")
    if not g.path.match(path):
        raise InvalidArgument(
            f"invalid reference format: repository name {path!r} in {text!r} may only hold lowercase letters, digits and separators (. _ __ -) between path components"
        )
    if len(domain) + 1 + len(path) > MAX_NAME:
        raise InvalidArgument(f"invalid reference format: repository name {text!r} is longer than {MAX_NAME} characters")
    return Reference(domain, path, tag, digest)


def parse_normalized(text: str) -> Reference:
    """Parse and add `:latest` when neither tag nor digest was given."""
    return parse(text).with_default_tag()


def looks_like_id(text: str) -> bool:
    """True for a full or short hex image ID (with or without `sha256:`), which is looked up, not parsed."""
    t = text[7:] if text.startswith("sha256:") else text
    return 1 <= len(t) <= 64 and all(c in "0123456789abcdef" for c in t)
