"""Errors every layer raises, so front ends can turn them into one clear line.

Each error carries a message meant for a person (what is wrong and what to do) and the
HTTP status the Docker Engine API would answer with, so the CLI and the API server
map the same failure the same way.
"""


class DockyardError(Exception):
    """Base of all expected failures: shown as one line, never as a traceback."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DockyardError):
    """The caller asked for something malformed (bad reference, bad flag value)."""

    status = 400


class Forbidden(DockyardError):
    """The operation is never allowed on this object (a predefined network)."""

    status = 403


class NotFound(DockyardError):
    """The named object does not exist."""

    status = 404


class Conflict(DockyardError):
    """The request clashes with existing state (name in use, image in use)."""

    status = 409


class CorruptContent(DockyardError):
    """Content failed verification: digest mismatch, truncated or malformed archive."""

    status = 400


class UnsafePath(CorruptContent):
    """An archive tried to write outside its root (../, absolute path, symlink escape)."""


class NoSpace(DockyardError):
    """Writing would fill the disk (or did): the root's min-free-space reserve, or ENOSPC.
    507 Insufficient Storage: the request may be fine, this host cannot hold its result."""

    status = 507
