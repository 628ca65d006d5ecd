"""What tests that run commands as a throwaway user share."""

from __future__ import annotations

from pathlib import Path


def reachable_by_all(path: str) -> None:
    """Let every user search the directories down to `path` (the venv, and the checkout it runs
    from): a CI clone in a `mktemp -d` directory (mode 0700) would hide dockyard from the user."""
    for parent in list(Path(path).parents)[:-1]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
