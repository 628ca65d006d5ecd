"""Names for scratch files and directories that tell a live writer's from a dead one's.

Every temporary entry under the root is `tmp-<pid>-<random>`: when a process is killed mid-way,
the next check can remove its leftovers without touching what a running process is writing.
"""

from __future__ import annotations

import os

TMP_PREFIX = "tmp-"


def scratch_name() -> str:
    return f"{TMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(name: str) -> bool:
    """True if `name` is a scratch entry whose creating process still runs."""
    if not name.startswith(TMP_PREFIX):
        return False
    try:
        pid = int(name[len(TMP_PREFIX):].split("-", 1)[0])
    except ValueError:
        return False
    return pid > 0 and pid_alive(pid)
