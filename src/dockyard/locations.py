"""Where a root and its run dir are when nothing names them, and where the environment puts
them: strings only, so the read-only commands (cli/readonly.py) find them without pathlib."""

from __future__ import annotations

import os

DEFAULT_ROOT = "/var/lib/dockyard"
DEFAULT_RUN_DIR = "/run/dockyard"


class Where:
    """The root and run dir the environment names, as Engine() finds them."""

    def __init__(self, root: str, run_dir: str) -> None:
        self.root, self.run_dir = root, run_dir

    @classmethod
    def from_environment(cls) -> Where | None:
        """None when Engine has more to work out: a relative or unnormalised path (Engine keeps
        what Path.absolute() makes of it), or another root's own run dir (its identity)."""
        root = os.environ.get("DOCKYARD_ROOT") or DEFAULT_ROOT
        run_dir = os.environ.get("DOCKYARD_RUN_DIR") or (DEFAULT_RUN_DIR if root == DEFAULT_ROOT else "")
        if not all(p.startswith("/") and not p.startswith("//") and os.path.normpath(p) == p for p in (root, run_dir)):
            return None
        return cls(root, run_dir)
