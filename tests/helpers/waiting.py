"""Waiting for a condition with a deadline: tests never synchronise with fixed sleeps."""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 30.0, what: str = "the condition", step: float = 0.05):
    """Poll `predicate` until it returns something true, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def recv_until(sock, needle: bytes, timeout: float = 30.0) -> bytes:
    """Bytes from a stream socket until `needle` shows up; fail if it ends or `timeout` passes first."""
    sock.settimeout(timeout)
    data = b""
    while needle not in data:
        chunk = sock.recv(4096)
        assert chunk, f"stream ended before {needle!r}; got {data!r}"
        data += chunk
    return data
