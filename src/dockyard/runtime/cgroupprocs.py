"""A running container's processes found from its init's /proc/PID/cgroup, for `top` before
click loads (cli/readonly.py).

cgroups.open_cgroup finds the same group from the root's settings (daemon.json's cgroup-parent,
the root's identity: an Engine, pathlib) and, on cgroup v1, the mount table. The init's own
cgroup line names it directly; it is taken only when it is the container's (its last part is
the container's ID) and its cgroup.procs lists that init, so a recycled pid or a process that
moved is never mistaken for the container: None then, and the caller asks cgroups.py.
"""

from __future__ import annotations

import os

CGROUP_ROOT = "/sys/fs/cgroup"


def procs_with(init_pid: int, cid: str) -> list[int] | None:
    """The pids in the cgroup of `init_pid` (the pids controller's on cgroup v1, as
    CgroupV1.procs reads) if that is container `cid`'s; None where this cannot tell."""
    try:
        with open(f"/proc/{init_pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    v1 = v2 = None
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            v1 = path
        elif hierarchy == "0" and not controllers:
            v2 = path
    if v1 is not None:
        directory = os.path.join(CGROUP_ROOT, "pids", v1.lstrip("/"))
    elif v2 is not None:
        directory = os.path.join(CGROUP_ROOT, v2.lstrip("/"))
    else:
        return None
    if os.path.basename(directory) != cid:
        return None
    try:
        with open(os.path.join(directory, "cgroup.procs")) as f:
            pids = [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return None
    return pids if init_pid in pids else None
