"""The cgroups an ordinary user may use: where a rootless engine puts its containers.

cgroup v2 delegation, the kernel's model (admin-guide/cgroup-v2 "Delegation") and systemd's
`Delegate=yes`: a cgroup is the user's when they own its directory and its cgroup.procs,
cgroup.subtree_control and cgroup.threads. The command that starts the user's pause process
(rootless/pause.py) takes its own cgroup D when it is delegated: it moves every process in D
into the leaf D/init (a cgroup that hands controllers to its children may hold no processes),
enables for D's children every controller D has, and forks the pause process there. Later
commands find D again as the parent of the pause process's cgroup, and put each container in
D/<cgroup parent>/<id>. Moving a process needs write access to the cgroup.procs of the
source's and destination's common ancestor, so a command that moves one (a start, an exec)
must run inside D. Even with no controller, v2 tracks a container's processes (cgroup.procs)
and freezes them (cgroup.freeze); a limit whose controller D lacks is refused naming it.

Without delegation the engine keeps no cgroups (runtime/pidgroup.py) and every limit is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.errors import DockyardError, InvalidArgument

LEAF = "init"
#: the files a delegated cgroup's owner must be able to write (cgroup.threads where the kernel has it)
DELEGATED_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")

#: HostConfig limits: the docker flag that sets each and the v2 controller it needs ("" for none of v2's).
LIMITS = {
    "Memory": ("--memory", "memory"), "MemorySwap": ("--memory-swap", "memory"),
    "MemoryReservation": ("--memory-reservation", "memory"), "KernelMemory": ("--kernel-memory", ""),
    "NanoCpus": ("--cpus", "cpu"), "CpuShares": ("--cpu-shares", "cpu"), "CpuQuota": ("--cpu-quota", "cpu"),
    "CpuPeriod": ("--cpu-period", "cpu"), "CpuRealtimePeriod": ("--cpu-rt-period", ""),
    "CpuRealtimeRuntime": ("--cpu-rt-runtime", ""), "CpusetCpus": ("--cpuset-cpus", "cpuset"),
    "CpusetMems": ("--cpuset-mems", "cpuset"), "PidsLimit": ("--pids-limit", "pids"),
    "BlkioWeight": ("--blkio-weight", "io"), "BlkioWeightDevice": ("--blkio-weight-device", ""),
    "BlkioDeviceReadBps": ("--device-read-bps", "io"), "BlkioDeviceWriteBps": ("--device-write-bps", "io"),
    "BlkioDeviceReadIOps": ("--device-read-iops", "io"), "BlkioDeviceWriteIOps": ("--device-write-iops", "io"),
    "OomKillDisable": ("--oom-kill-disable", ""),
}
NOT_DELEGATED = "rootless dockyard has no cgroup to set it in: it needs cgroup v2 with a subtree delegated to your user"


class V2:
    """A cgroup v2 subtree delegated to this user: `base` in the hierarchy mounted at `mount`."""

    def __init__(self, mount: str, base: str) -> None:
        self.mount, self.base = mount, "/" + base.strip("/")

    def directory(self, path: str = "") -> Path:
        return Path(self.mount) / (path or self.base).strip("/")

    def contains(self, path: str) -> bool:
        path = "/" + path.strip("/")
        return path == self.base or path.startswith(self.base.rstrip("/") + "/")

    def controllers(self) -> set[str]:
        try:
            return set((self.directory() / "cgroup.controllers").read_text().split())
        except OSError:
            return set()

    def parent(self, default: str) -> str:
        """The cgroup parent `default` ('/dockyard') under the delegated subtree."""
        return f"{self.base.rstrip('/')}/{default.strip('/')}"


def v2_mount(mountinfo: str = "/proc/self/mountinfo") -> tuple[str, str] | None:
    """(mount point, cgroup shown at its root) of the first cgroup2 mount, or None."""
    try:
        with open(mountinfo) as f:
            for line in f:
                fields = line.split()
                if fields[fields.index("-") + 1] == "cgroup2":
                    return fields[4], fields[3]
    except OSError:
        pass
    return None


def v2_cgroup(pid: int | str = "self") -> str | None:
    """The v2 cgroup of `pid` (its `0::` line in /proc/PID/cgroup), or None."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def _directory(mount: tuple[str, str], cgroup: str) -> Path | None:
    point, shown = mount
    shown = shown.rstrip("/")
    if shown and cgroup != shown and not cgroup.startswith(shown + "/"):
        return None  # the mount shows another part of the hierarchy
    return Path(point) / cgroup[len(shown):].strip("/")


def owned(directory: Path) -> bool:
    """Whether this user may manage `directory` as a delegated cgroup (the ownership contract)."""
    try:
        if os.stat(directory).st_uid != os.getuid() or not os.access(directory, os.W_OK | os.X_OK):
            return False
    except OSError:
        return False
    return all(os.access(directory / name, os.W_OK) for name in DELEGATED_FILES
               if name != "cgroup.threads" or (directory / name).exists())


def settle() -> V2 | None:
    """Before the pause process forks (as the user, in the host's namespaces): take this
    process's cgroup if it is delegated, move its processes into its `init` leaf and enable
    its controllers for its children. None when nothing is delegated (not an error: the
    engine then keeps no cgroups)."""
    mount, cgroup = v2_mount(), v2_cgroup()
    if mount is None or cgroup is None:
        return None
    if os.path.basename(cgroup) == LEAF:  # a shell moved there when an earlier pause process started
        parent = _directory(mount, os.path.dirname(cgroup))
        if parent is not None and owned(parent):
            cgroup = os.path.dirname(cgroup)
    directory = _directory(mount, cgroup)
    if directory is None or cgroup == "/" or not owned(directory):
        return None
    leaf = directory / LEAF
    leaf.mkdir(exist_ok=True)
    for _ in range(100):  # processes may fork while being moved
        pids = (directory / "cgroup.procs").read_text().split()
        if not pids:
            break
        for pid in pids:
            try:
                (leaf / "cgroup.procs").write_text(pid)
            except ProcessLookupError:
                pass  # ended meanwhile
    else:
        raise DockyardError(f"cannot empty the delegated cgroup {directory}: its processes keep forking")
    found = V2(mount[0], cgroup)
    wanted = found.controllers() - set((directory / "cgroup.subtree_control").read_text().split())
    if wanted:
        try:
            (directory / "cgroup.subtree_control").write_text(" ".join("+" + c for c in sorted(wanted)))
        except OSError as err:
            raise DockyardError(f"cannot enable the controllers {' '.join(sorted(wanted))} of your delegated "
                                f"cgroup {directory}: {err.strerror}") from None
    return found


_found: dict[str, V2 | None] = {}


def v2() -> V2 | None:
    """The user's delegated v2 cgroup, as the pause process's starter settled it (rootless only)."""
    from dockyard.rootless import ENV

    pause = os.environ.get(ENV, "")
    if pause not in _found:
        _found[pause] = _of_pause(pause) if pause else None
    return _found[pause]


def _of_pause(pause: str) -> V2 | None:
    mount, cgroup = v2_mount(), v2_cgroup(pause)
    if mount is None or cgroup is None or os.path.basename(cgroup) != LEAF:
        return None
    base = os.path.dirname(cgroup)
    directory = _directory(mount, base)
    return V2(mount[0], base) if directory is not None and base != "/" and owned(directory) else None


def cgroup_parent(default: str) -> str:
    """Where a rootless engine's containers go: `default` under the delegated cgroup, or
    `default` itself where none is (a path then no cgroup holds: runtime/pidgroup.py)."""
    found = v2()
    return found.parent(default) if found else default


def refuse_limits(host_config: dict) -> None:
    """One line naming the first limit flag `host_config` sets that this user's cgroups cannot hold."""
    found = v2()
    controllers = found.controllers() if found else set()
    for key, (flag, controller) in LIMITS.items():
        value = host_config.get(key)
        if value in (None, 0, "", [], False) or (key == "PidsLimit" and value == -1):
            continue
        if found is None:
            raise InvalidArgument(f"{flag}: {NOT_DELEGATED}")
        if not controller:
            raise InvalidArgument(f"{flag}: not available in a rootless engine's cgroup v2")
        if controller not in controllers:
            raise InvalidArgument(
                f"{flag}: the {controller} controller is not delegated to your cgroup {found.base} "
                f"(its cgroup.controllers lacks it): have root enable it in the parent's "
                f"cgroup.subtree_control, or use a systemd unit with Delegate=yes")
