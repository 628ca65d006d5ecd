"""Rootless dockyard: an ordinary user's commands run as "root" inside a user namespace of their own.

The shape is podman's. One pause process per user (pause.py) holds a user namespace mapped
through newuidmap/newgidmap from /etc/subuid and /etc/subgid (idmaps.py: uid 0 inside is the
user, 1..N the subordinate range), a mount namespace and a network namespace (the rootless
netns, which network/rootless/ wires to the outside). Every `dockyard` command the user runs
joins the user and mount namespaces first thing, before any thread exists (join.py), and its
network service works in the network namespace (netns.py), so the engine below runs
unchanged as root inside them: layers keep their ids as they are in the image, overlayfs
is mounted in the user namespace, the containers' mounts live in the pause process's mount
namespace and vanish with it. Defaults move to the user's XDG directories (paths.py).

`ENV` marks a process (and its children: the shim, hooks, the API server's forks) as already
inside; nothing else needs to know how it got there.
"""

from __future__ import annotations

import os

ENV = "_DOCKYARD_ROOTLESS"


def active() -> bool:
    """Whether this process runs as a rootless user's engine (inside the user's namespaces)."""
    return bool(os.environ.get(ENV))
