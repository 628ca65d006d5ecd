"""Where a rootless user's engine keeps its state: the XDG base directories, as podman does.

- root: `$XDG_DATA_HOME/dockyard` (`~/.local/share/dockyard`);
- run dir: `$XDG_RUNTIME_DIR/dockyard` (tmpfs, the user's own, emptied at logout or reboot);
  the pause process's pid file lives there, whatever --root and --run-dir a command names;
- the host-wide lists rootful roots keep under /run (network owners) and the API socket move
  under `$XDG_RUNTIME_DIR` too: the user's network namespace is theirs alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.errors import DockyardError


def runtime_dir() -> Path:
    value = os.environ.get("XDG_RUNTIME_DIR")
    if not value:
        raise DockyardError("rootless dockyard needs $XDG_RUNTIME_DIR (a directory only you can write, "
                            "e.g. /run/user/$(id -u), made by your login manager): set it and try again")
    return Path(value)


def data_home() -> Path:
    value = os.environ.get("XDG_DATA_HOME")
    return Path(value) if value else Path(os.path.expanduser("~")) / ".local" / "share"


def root() -> Path:
    return data_home() / "dockyard"


def run_dir() -> Path:
    return runtime_dir() / "dockyard"


def roots_registry() -> Path:
    """Where this user's roots record their network names (rootful: /run/dockyard-roots)."""
    return runtime_dir() / "dockyard-roots"


def api_socket() -> Path:
    return runtime_dir() / "dockyard.sock"


def pause_pid_file() -> Path:
    return run_dir() / "pause.pid"


NET_HELPER_DIRNAME = "rootless-net"


def net_helper_dir() -> Path:
    """The network helper's pid files and control socket (network/rootless/)."""
    return run_dir() / NET_HELPER_DIRNAME
