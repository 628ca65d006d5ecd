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
