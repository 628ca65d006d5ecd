"""Errors of the OCI distribution spec: a code, an HTTP status, a message and a detail.

Handlers raise `RegistryError`; one middleware turns it into the spec's JSON body
`{"errors": [{"code", "message", "detail"}]}` so every failure looks the same to clients.
"""

from __future__ import annotations

import json
from typing import Any


class RegistryError(Exception):
    """A failure with one of the spec's error codes."""

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> bytes:
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}).encode()


def _maker(code: str, status: int, default: str):
    def make(message: str = default, detail: Any = None, headers: dict[str, str] | None = None,
             status: int = status) -> RegistryError:
        return RegistryError(code, status, message, detail, headers)

    make.__name__ = code.lower()
    make.__doc__ = f"{code} ({status}): {default}"
    return make


blob_unknown = _maker("BLOB_UNKNOWN", 404, "blob unknown to registry")
blob_upload_invalid = _maker("BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
blob_upload_unknown = _maker("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
digest_invalid = _maker("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
manifest_blob_unknown = _maker("MANIFEST_BLOB_UNKNOWN", 400, "manifest references a blob unknown to the registry")
manifest_invalid = _maker("MANIFEST_INVALID", 400, "manifest invalid")
manifest_unknown = _maker("MANIFEST_UNKNOWN", 404, "manifest unknown")
name_invalid = _maker("NAME_INVALID", 400, "invalid repository name")
name_unknown = _maker("NAME_UNKNOWN", 404, "repository name not known to registry")
size_invalid = _maker("SIZE_INVALID", 400, "provided length did not match content length")
unauthorized = _maker("UNAUTHORIZED", 401, "authentication required")
denied = _maker("DENIED", 403, "requested access to the resource is denied")
unsupported = _maker("UNSUPPORTED", 405, "the operation is unsupported")
too_many_requests = _maker("TOOMANYREQUESTS", 429, "too many requests")
# Not in the OCI spec but the reference registry's codes: a bad `n` on paginated lists, and a
# Range or Content-Range that cannot be satisfied.
pagination_number_invalid = _maker("PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested")
range_invalid = _maker("RANGE_INVALID", 416, "invalid content range")

# The code of an HTTP error the web framework answers by itself (a path outside the API, a method
# /metrics does not take, a body over its limit), so that it carries the same body.
_BY_STATUS = {401: "UNAUTHORIZED", 403: "DENIED", 404: "UNSUPPORTED", 405: "UNSUPPORTED", 413: "SIZE_INVALID",
              416: "RANGE_INVALID", 429: "TOOMANYREQUESTS"}


def from_status(status: int, message: str, headers: dict[str, str] | None = None) -> RegistryError:
    return RegistryError(_BY_STATUS.get(status, "UNKNOWN"), status, message, None, headers)
