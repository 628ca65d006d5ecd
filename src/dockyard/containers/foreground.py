"""The foreground client's lock: a `run` in the foreground holds it (shared) in the container's
run dir for the run; while it is held the shim runs no exit hook, and the client records the
exit and honours --rm itself."""

from __future__ import annotations

from pathlib import Path

LOCK = "foreground"  # in the run dir: see ContainerService.hold_foreground


def owner_alive(rd: Path) -> bool:
    """A `run` in the foreground (see hold_foreground) records the exit and honours --rm itself."""
    import fcntl
    try:
        with open(rd / LOCK) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
    except FileNotFoundError:
        pass
    return False
