"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): what authenticator apps show.

Six digits from HMAC-SHA1 of the 30-second time step, the secret shared as base32 in an
`otpauth://` URI (the QR code's content). A code of the step before or after is accepted too,
for clocks a little apart; the caller refuses a step already used, so a code works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
import urllib.parse

STEP = 30
DIGITS = 6


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps take them."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def _key(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def code(secret: str, step: int) -> str:
    digest = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** DIGITS).zfill(DIGITS)


def matching_step(secret: str, given: str, now: float | None = None) -> int | None:
    """The time step whose code `given` is (this one, the one before or after), or None."""
    given = given.strip().replace(" ", "")
    if len(given) != DIGITS or not given.isdigit():
        return None
    current = int((time.time() if now is None else now) // STEP)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(code(secret, step), given):
            return step
    return None


def uri(secret: str, user: str, issuer: str) -> str:
    label = urllib.parse.quote(f"{issuer}:{user}")
    query = urllib.parse.urlencode({"secret": secret, "issuer": issuer, "digits": DIGITS, "period": STEP})
    return f"otpauth://totp/{label}?{query}"
