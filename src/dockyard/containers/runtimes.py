"""Which OCI runtime runs a container, and the binaries the shim runs: the runtime's and
dockyard's own (for the exit and health hooks)."""

from __future__ import annotations

import os
import sys

from dockyard.errors import NotFound


def builtin(runtime: str) -> bool:
    """dockyard's own runtime, which the engine can also drive in-process."""
    return runtime in ("dockyard", "runtime")


def runtime_binary(name: str) -> str:
    if builtin(name):
        path = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
        if os.access(path, os.X_OK):
            return path
        name = "dockyard-runtime"
    import shutil

    found = shutil.which(name)
    if not found:
        raise NotFound(f"OCI runtime {name!r} not found in PATH")
    return found


def dockyard_binary() -> str:
    path = os.path.join(os.path.dirname(sys.executable), "dockyard")
    if os.access(path, os.X_OK):
        return path
    import shutil

    return shutil.which("dockyard") or "dockyard"
