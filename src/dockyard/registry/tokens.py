"""Bearer tokens of the built-in token service: JWTs signed with HMAC-SHA256.

The JWT shape (and the `access` claim of Docker's token spec) lets people and tools decode
a token to see what it grants; HMAC keeps it simple, since the registry that verifies the
token is the one that signed it. The key lives in `<root>/token.key` so tokens stay valid
across restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(path: Path) -> bytes:
    """The signing key at `path`, created (mode 0600) on first use."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key


class TokenSigner:
    def __init__(self, key: bytes, service: str, issuer: str = "dockyard-token-service", ttl: int = 300) -> None:
        self.key = key
        self.service = service
        self.issuer = issuer
        self.ttl = ttl

    def _sign(self, signing_input: bytes) -> str:
        return _b64(hmac.new(self.key, signing_input, hashlib.sha256).digest())

    def issue(self, subject: str, access: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> tuple[str, int]:
        """A token for `subject` granting `access` (with `extra` claims); returns it with its issue time."""
        now = int(time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.ttl,
            "jti": secrets.token_hex(16),
            "access": access,
            **(extra or {}),
        }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        return f"{header}.{payload}.{self._sign(signing_input)}", now

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this service issued and that is valid now; None otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header, payload, signature = parts
        if not hmac.compare_digest(signature, self._sign(f"{header}.{payload}".encode())):
            return None
        try:
            if json.loads(_unb64(header)).get("alg") != "HS256":
                return None
            claims = json.loads(_unb64(payload))
        except ValueError:
            return None
        now = time.time()
        if claims.get("aud") != self.service or claims.get("iss") != self.issuer:
            return None
        if not (claims.get("nbf", 0) <= now < claims.get("exp", 0)):
            return None
        return claims
