"""Content digests (`sha256:<hex>`): parsing, validation and hashing helpers."""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def sha256_digest(data: bytes) -> str:
    """Digest of bytes, in the `algorithm:hex` form OCI uses everywhere."""
    import hashlib  # here: OpenSSL's module costs 2 ms to load, and most commands hash nothing

    return "sha256:" + hashlib.sha256(data).hexdigest()


def validate(digest: str) -> str:
    """Return the digest if well formed; only sha256 is accepted, as Docker does in practice."""
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise InvalidArgument(f"invalid digest {digest!r}: expected sha256: followed by 64 lowercase hex characters")
    return digest


def hex_of(digest: str) -> str:
    """The hex part of a validated digest, used as a file name."""
    return validate(digest).split(":", 1)[1]


def short_id(digest: str, length: int = 12) -> str:
    """Docker's short ID: the first 12 hex characters, without the algorithm."""
    return digest.split(":", 1)[-1][:length]


class Hasher:
    """Incremental sha256 with a running byte count, for verifying streams while writing them."""

    def __init__(self) -> None:
        import hashlib

        self._h = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._h.update(chunk)
        self.size += len(chunk)

    @property
    def digest(self) -> str:
        return "sha256:" + self._h.hexdigest()
