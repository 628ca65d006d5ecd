"""Where a root and its run dir are when nothing names them, where the environment puts them,
and where a container's files are under them: strings only, so the read-only commands
(cli/readonly.py) find them without pathlib (containers/paths.py gives them as Paths)."""

from __future__ import annotations

import os

DEFAULT_ROOT = "/var/lib/dockyard"
DEFAULT_RUN_DIR = "/run/dockyard"
BUILD_MARKERS = "builds"  # under the root: builds in progress (builder/unfinished.py)


class Where:
    """The root and run dir the environment names, as Engine() finds them."""

    def __init__(self, root: str, run_dir: str) -> None:
        self.root, self.run_dir = root, run_dir

    @classmethod
    def from_environment(cls) -> Where | None:
        """None when Engine has more to work out: a relative or unnormalised path (Engine keeps
        what Path.absolute() makes of it), another root's own run dir (its identity), or a
        rootless user's defaults (engine.defaults())."""
        from dockyard import rootless

        if rootless.active() and not (os.environ.get("DOCKYARD_ROOT") and os.environ.get("DOCKYARD_RUN_DIR")):
            return None
        root = os.environ.get("DOCKYARD_ROOT") or DEFAULT_ROOT
        run_dir = os.environ.get("DOCKYARD_RUN_DIR") or (DEFAULT_RUN_DIR if root == DEFAULT_ROOT else "")
        if not all(p.startswith("/") and not p.startswith("//") and os.path.normpath(p) == p for p in (root, run_dir)):
            return None
        return cls(root, run_dir)


def container_dir(root, cid: str) -> str:
    """A container's persistent files: hosts, hostname, resolv.conf, the json log."""
    return os.path.join(root, "containers", cid)


def container_run_dir(run_dir, cid: str) -> str:
    """A container's runtime state: the bundle, the rootfs mount, the shim's sockets and files."""
    return os.path.join(run_dir, "containers", cid)
