"""Users and bcrypt password hashes from an Apache-style htpasswd file (`htpasswd -B`).

Only bcrypt entries are accepted, as the reference registry does: the old crypt/MD5/SHA1
schemes are too weak to protect push access. bcrypt is deliberately slow, so a successful
check is remembered (keyed by a keyed hash of the credentials, never the password itself)
to keep clients that send Basic auth on every request fast.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


class Htpasswd:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._mtime: float | None = None
        self._entries: dict[str, bytes] = {}
        self._verified: set[bytes] = set()
        self._key = secrets.token_bytes(32)
        self._load()

    def _load(self) -> None:
        """(Re)read the file if it changed, so users can be added without a restart."""
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        entries = {}
        for lineno, line in enumerate(self.path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not hashed.startswith(("$2y$", "$2b$", "$2a$")):
                log.warning("%s:%d: skipped, only user:bcrypt-hash entries are supported", self.path, lineno)
                continue
            entries[user] = hashed.encode()
        self._entries, self._mtime, self._verified = entries, mtime, set()

    def verify(self, user: str, password: str) -> bool:
        """True if the password matches the user's bcrypt hash. Blocking: bcrypt is slow."""
        import bcrypt

        self._load()
        hashed = self._entries.get(user)
        if hashed is None:
            return False
        token = hmac.new(self._key, b"\0".join((user.encode(), password.encode(), hashed)), hashlib.sha256).digest()
        if token in self._verified:
            return True
        if hashed.startswith(b"$2y$"):  # Apache's name for the same algorithm as $2b$
            hashed = b"$2b$" + hashed[4:]
        if bcrypt.checkpw(password.encode(), hashed):
            self._verified.add(token)
            return True
        return False
