"""Content digests (`algorithm:hex`): parsing, validation and hashing helpers.

The OCI image spec registers two algorithms, sha256 (what every tool writes) and sha512;
both are accepted wherever a digest is read. Content is hashed with the algorithm of the
digest it is checked against, and sha256 when nothing names one.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument

#: hex length of each registered algorithm; the length alone tells them apart
ALGORITHMS = {"sha256": 64, "sha512": 128}
CANONICAL = "sha256"
_DIGEST_RE = re.compile(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_BY_HEX_LENGTH = {length: algorithm for algorithm, length in ALGORITHMS.items()}


def digest_of(data: bytes, algorithm: str = CANONICAL) -> str:
    """Digest of bytes, in the `algorithm:hex` form OCI uses everywhere."""
    import hashlib  # here: OpenSSL's module costs 2 ms to load, and most commands hash nothing

    return f"{algorithm}:" + getattr(hashlib, algorithm)(data).hexdigest()


def sha256_digest(data: bytes) -> str:
    return digest_of(data)


def validate(digest: str) -> str:
    """Return the digest if well formed: sha256 or sha512 and lowercase hex of the right length."""
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise InvalidArgument(
            f"invalid digest {digest!r}: expected sha256: and 64, or sha512: and 128, lowercase hex characters"
        )
    return digest


def algorithm_of(digest: str) -> str:
    return validate(digest).split(":", 1)[0]


def hex_of(digest: str) -> str:
    """The hex part of a validated digest, used as a file name (its length names the algorithm)."""
    return validate(digest).split(":", 1)[1]


def from_hex(name: str) -> str | None:
    """The digest a file named by hex_of stands for; None for a name that is none."""
    algorithm = _BY_HEX_LENGTH.get(len(name))
    digest = f"{algorithm}:{name}"
    return digest if algorithm and _DIGEST_RE.match(digest) else None


def short_id(digest: str, length: int = 12) -> str:
    """Docker's short ID: the first 12 hex characters, without the algorithm."""
    return digest.split(":", 1)[-1][:length]


class Hasher:
    """Incremental hash with a running byte count, for verifying streams while writing them."""

    def __init__(self, algorithm: str = CANONICAL) -> None:
        import hashlib

        self.algorithm = algorithm
        self._h = getattr(hashlib, algorithm)()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._h.update(chunk)
        self.size += len(chunk)

    @property
    def digest(self) -> str:
        return f"{self.algorithm}:" + self._h.hexdigest()
