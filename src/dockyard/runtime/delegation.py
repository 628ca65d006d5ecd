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

cgroup v1 has no delegation of its own; root hands each user a cgroup per hierarchy, as LXC's
pam_cgfs does (`dockyard system delegate-cgroups --user NAME`: /<hierarchy>/dockyard-rootless-UID,
the directory, cgroup.procs and tasks chowned, its own limits left root's). The user makes
their containers' groups below it (a cgroup's creator owns it), sets their limits and moves
their own processes in (v1 asks for the writer's uid to match the process's). Where both
exist, v1's is used: on a hybrid host it holds the controllers.

Without delegation the engine keeps no cgroups (runtime/pidgroup.py) and every limit is refused.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from dockyard.errors import DockyardError, InvalidArgument

LEAF = "init"
#: the files a delegated cgroup's owner must be able to write (cgroup.threads where the kernel has it)
V2_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")
V1_FILES = ("cgroup.procs", "tasks")
V1_PREFIX = "dockyard-rootless-"  # and the user's uid: each delegated v1 hierarchy's group
#: the v1 controllers worth delegating (devices is not: its rules need CAP_SYS_ADMIN on the host)
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "hugetlb")

#: HostConfig limits: the docker flag that sets each and the v2 and v1 controllers it needs ("": none).
LIMITS = {
    "Memory": ("--memory", "memory", "memory"), "MemorySwap": ("--memory-swap", "memory", "memory"),
    "MemoryReservation": ("--memory-reservation", "memory", "memory"),
    "KernelMemory": ("--kernel-memory", "", ""), "NanoCpus": ("--cpus", "cpu", "cpu"),
    "CpuShares": ("--cpu-shares", "cpu", "cpu"), "CpuQuota": ("--cpu-quota", "cpu", "cpu"),
    "CpuPeriod": ("--cpu-period", "cpu", "cpu"), "CpuRealtimePeriod": ("--cpu-rt-period", "", "cpu"),
    "CpuRealtimeRuntime": ("--cpu-rt-runtime", "", "cpu"), "CpusetCpus": ("--cpuset-cpus", "cpuset", "cpuset"),
    "CpusetMems": ("--cpuset-mems", "cpuset", "cpuset"), "PidsLimit": ("--pids-limit", "pids", "pids"),
    "BlkioWeight": ("--blkio-weight", "io", "blkio"), "BlkioWeightDevice": ("--blkio-weight-device", "", "blkio"),
    "BlkioDeviceReadBps": ("--device-read-bps", "io", "blkio"),
    "BlkioDeviceWriteBps": ("--device-write-bps", "io", "blkio"),
    "BlkioDeviceReadIOps": ("--device-read-iops", "io", "blkio"),
    "BlkioDeviceWriteIOps": ("--device-write-iops", "io", "blkio"),
    "OomKillDisable": ("--oom-kill-disable", "", "memory"),
}
NOT_DELEGATED = ("rootless dockyard has no cgroup to set it in: it needs cgroup v2 with a subtree delegated to "
                 "your user, or cgroup v1 groups from root's `dockyard system delegate-cgroups`")


class Delegated:
    """Cgroups delegated to this user: `base`, a path in the hierarchy, and what lies below it."""

    def __init__(self, base: str) -> None:
        self.base = "/" + base.strip("/")

    def contains(self, path: str) -> bool:
        path = "/" + path.strip("/")
        return path == self.base or path.startswith(self.base.rstrip("/") + "/")

    def parent(self, default: str) -> str:
        """The cgroup parent `default` ('/dockyard') under the delegated cgroup."""
        return f"{self.base.rstrip('/')}/{default.strip('/')}"


class V2(Delegated):
    """A cgroup v2 subtree delegated to this user, in the hierarchy mounted at `mount`."""

    def __init__(self, mount: str, base: str) -> None:
        super().__init__(base)
        self.mount = mount

    def directory(self) -> Path:
        return Path(self.mount) / self.base.strip("/")

    def mounts(self) -> list[str]:
        return [self.mount]

    def controllers(self) -> set[str]:
        try:
            return set((self.directory() / "cgroup.controllers").read_text().split())
        except OSError:
            return set()

    def refusal(self, flag: str, controller: str) -> str:
        return (f"{flag}: the {controller} controller is not delegated to your cgroup {self.base} "
                f"(its cgroup.controllers lacks it): have root enable it in the parent's "
                f"cgroup.subtree_control, or use a systemd unit with Delegate=yes")


class V1(Delegated):
    """The user's group `base` on each v1 hierarchy delegated to them (mount point -> controllers)."""

    def __init__(self, hierarchies: dict[str, str], base: str) -> None:
        super().__init__(base)
        self.hierarchies = hierarchies

    def mounts(self) -> list[str]:
        return list(self.hierarchies)

    def controllers(self) -> set[str]:
        return {c for controllers in self.hierarchies.values() for c in controllers.split(",")}

    def refusal(self, flag: str, controller: str) -> str:
        return (f"{flag}: the {controller} cgroup v1 controller is not delegated to your user: "
                f"as root, dockyard system delegate-cgroups --user {_user_name()}")


def v2_mount() -> str | None:
    """The mount point of the cgroup2 hierarchy (a hybrid host's too), from the mount table read
    once per process (cgroups.v1_hierarchies)."""
    from dockyard.runtime.cgroups import v1_hierarchies

    return next((mount for mount, controllers in v1_hierarchies().items() if controllers == "unified"), None)


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


def owned(directory: Path, files: tuple[str, ...] = V2_FILES) -> bool:
    """Whether this user may manage `directory` as a delegated cgroup (the ownership contract)."""
    try:
        if os.stat(directory).st_uid != os.getuid() or not os.access(directory, os.W_OK | os.X_OK):
            return False
    except OSError:
        return False
    return all(os.access(directory / name, os.W_OK) for name in files
               if name != "cgroup.threads" or (directory / name).exists())


def settle() -> V2 | None:
    """Before the pause process forks (as the user, in the host's namespaces): take this
    process's cgroup if it is delegated, move its processes into its `init` leaf and enable
    its controllers for its children. None when nothing is delegated (not an error: the
    engine then keeps no cgroups)."""
    mount, cgroup = v2_mount(), v2_cgroup()
    if mount is None or cgroup is None:
        return None
    if os.path.basename(cgroup) == LEAF and owned(Path(mount) / os.path.dirname(cgroup).strip("/")):
        cgroup = os.path.dirname(cgroup)  # a shell moved there when an earlier pause process started
    directory = Path(mount) / cgroup.strip("/")
    if cgroup == "/" or not owned(directory):
        return None
    leaf = directory / LEAF
    leaf.mkdir(exist_ok=True)
    found = V2(mount, cgroup)
    wanted = found.controllers() - set((directory / "cgroup.subtree_control").read_text().split())
    for _ in range(100):  # processes may fork into D while they are moved, and then block the enabling
        _empty_into(directory, leaf)
        try:
            if wanted:
                (directory / "cgroup.subtree_control").write_text(" ".join("+" + c for c in sorted(wanted)))
            return found
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise DockyardError(f"cannot enable the controllers {' '.join(sorted(wanted))} of your delegated "
                                    f"cgroup {directory}: {err.strerror}") from None
    raise DockyardError(f"cannot empty your delegated cgroup {directory}: its processes keep forking")


def _empty_into(directory: Path, leaf: Path) -> None:
    """Move every process of cgroup `directory` into `leaf`."""
    for _ in range(100):
        pids = (directory / "cgroup.procs").read_text().split()
        if not pids:
            return
        for pid in pids:
            try:
                (leaf / "cgroup.procs").write_text(pid)
            except ProcessLookupError:
                pass  # ended meanwhile


_found: dict[str, Delegated | None] = {}


def found() -> Delegated | None:
    """The cgroups delegated to this rootless engine's user: v1's (V1), else the v2 cgroup the
    pause process's starter settled (V2), else None."""
    from dockyard.rootless import ENV

    pause = os.environ.get(ENV, "")
    if pause not in _found:
        _found[pause] = (_v1() or _of_pause(pause)) if pause else None
    return _found[pause]


def _v1() -> V1 | None:
    from dockyard.runtime.cgroups import v1_hierarchies

    base = f"/{V1_PREFIX}{_host_uid()}"
    delegated = {mount: controllers for mount, controllers in v1_hierarchies().items()
                 if controllers != "unified" and owned(Path(mount + base), V1_FILES)}
    return V1(delegated, base) if delegated else None


def _host_uid() -> int:
    """This user's uid on the host (a rootless engine is uid 0 in its user namespace)."""
    with open("/proc/self/uid_map") as f:
        for line in f:
            inside, outside, _ = line.split()
            if inside == "0":
                return int(outside)
    return os.getuid()


def _user_name() -> str:
    import pwd

    uid = _host_uid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _of_pause(pause: str) -> V2 | None:
    mount, cgroup = v2_mount(), v2_cgroup(pause)
    if mount is None or cgroup is None or os.path.basename(cgroup) != LEAF:
        return None
    base = os.path.dirname(cgroup)
    return V2(mount, base) if base != "/" and owned(Path(mount) / base.strip("/")) else None


def cgroup_parent(default: str) -> str:
    """Where a rootless engine's containers go: `default` under the delegated cgroup, or
    `default` itself where none is (a path then no cgroup holds: runtime/pidgroup.py)."""
    delegated = found()
    return delegated.parent(default) if delegated else default


def refuse_limits(host_config: dict, own_runtime: bool = True) -> None:
    """One line naming the first limit flag `host_config` sets that this user's cgroups cannot
    hold. Only dockyard's own runtime uses them: runc and crun, rootless, would look for the
    user's group on every hierarchy (v1) or the host's layout (a hybrid host), so they get none."""
    delegated = found() if own_runtime else None
    controllers = delegated.controllers() if delegated else set()
    v1 = isinstance(delegated, V1)
    for key, (flag, v2_controller, v1_controller) in LIMITS.items():
        value = host_config.get(key)
        if value in (None, 0, "", [], False) or (key == "PidsLimit" and value == -1):
            continue
        controller = v1_controller if v1 else v2_controller
        if delegated is None and not own_runtime and found():
            raise InvalidArgument(f"{flag}: rootless, only dockyard's own runtime uses your delegated cgroups")
        if delegated is None:
            raise InvalidArgument(f"{flag}: {NOT_DELEGATED}")
        if not controller:
            raise InvalidArgument(f"{flag}: not available on cgroup {'v1' if v1 else 'v2'}")
        if controller not in controllers:
            raise InvalidArgument(delegated.refusal(flag, controller))


def delegate_v1(uid: int, gid: int) -> list[Path]:
    """As root: the user's group on each v1 hierarchy with a controller worth delegating, its
    directory, cgroup.procs and tasks theirs; its own limit files stay root's (root may cap the
    user as a whole there). The groups made, or found made."""
    from dockyard.runtime.cgroups import v1_hierarchies

    made = []
    for mount, controllers in sorted(v1_hierarchies().items()):
        if not set(controllers.split(",")) & set(V1_CONTROLLERS):
            continue
        directory = Path(mount) / f"{V1_PREFIX}{uid}"
        directory.mkdir(exist_ok=True)
        if "cpuset" in controllers.split(","):  # a new v1 cpuset has no cpus or mems to run on
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not (directory / name).read_text().strip():
                    (directory / name).write_text((Path(mount) / name).read_text())
        for path in (directory, *(directory / name for name in V1_FILES)):
            os.chown(path, uid, gid)
        made.append(directory)
    return made


def undelegate_v1(uid: int) -> list[Path]:
    """As root: remove the user's v1 groups and every group they made below them, or none of
    them while any holds a process."""
    from dockyard.runtime.cgroups import _rmdir_retrying, v1_hierarchies

    groups = [Path(mount) / f"{V1_PREFIX}{uid}" for mount in sorted(v1_hierarchies())]
    groups = [g for g in groups if g.is_dir()]
    below = [[Path(d) for d, _, _ in os.walk(g)] for g in groups]
    for busy in (d for found in below for d in found if (d / "cgroup.procs").read_text().split()):
        raise DockyardError(f"{busy} still holds processes: remove the user's containers first")
    for found in below:
        for directory in sorted(found, key=lambda p: len(p.parts), reverse=True):
            _rmdir_retrying(directory)
    return groups


#: `docker info`'s limit fields and the controller each needs (v1's and v2's names agree for these)
INFO_LIMITS = {"MemoryLimit": "memory", "CpuCfsPeriod": "cpu", "CpuCfsQuota": "cpu", "CPUShares": "cpu",
               "CPUSet": "cpuset", "PidsLimit": "pids"}


def info_limits() -> dict[str, bool]:
    """`docker info`'s limit fields for a rootless engine: what its delegated cgroups hold."""
    delegated = found()
    controllers = delegated.controllers() if delegated else set()
    return {field: controller in controllers for field, controller in INFO_LIMITS.items()}
