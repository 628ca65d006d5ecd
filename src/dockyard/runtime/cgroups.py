"""Control groups, v1 and v2: create a container's group, apply the OCI `linux.resources`
limits, put processes in it, freeze and thaw it, read its usage, remove it.

v1 (what this machine has) keeps one directory per hierarchy; v2 one directory in the
unified tree. Both take an OCI cgroupsPath ('/dockyard/<id>'), always relative to the
hierarchy roots, never to the caller's own cgroup.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

from dockyard import rootless
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.runtime import device_bpf
from dockyard.runtime.pidgroup import PidGroup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

CGROUP_ROOT = "/sys/fs/cgroup"
_CGROUP2_MAGIC = 0x63677270
_CGROUP_MAGIC = 0x27e0eb  # a v1 hierarchy
_V2_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")


class CgroupStats:
    """What `docker stats` and the OOM check need. A plain class: `dataclasses` costs `top`,
    which reads a cgroup's processes before click loads, 7 ms of imports."""

    def __init__(self, memory_usage: int = 0, memory_max_usage: int = 0, memory_limit: int = 0, oom_kills: int = 0,
                 under_oom: bool = False, cpu_usage_ns: int = 0, pids_current: int = 0, cpu_user_ns: int = 0,
                 cpu_kernel_ns: int = 0, percpu_ns: list[int] | None = None,
                 memory_stat: dict[str, int] | None = None) -> None:
        self.memory_usage, self.memory_max_usage, self.memory_limit = memory_usage, memory_max_usage, memory_limit
        self.oom_kills, self.under_oom = oom_kills, under_oom
        self.cpu_usage_ns, self.pids_current = cpu_usage_ns, pids_current
        self.cpu_user_ns, self.cpu_kernel_ns = cpu_user_ns, cpu_kernel_ns
        self.percpu_ns = percpu_ns if percpu_ns is not None else []  # v1 only, as docker reports it
        self.memory_stat = memory_stat if memory_stat is not None else {}  # memory.stat as it reads

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CgroupStats) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"CgroupStats({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def is_unified(root: str = CGROUP_ROOT) -> bool:
    """True when `root` is a cgroup2 mount (pure v2 host)."""
    try:
        return os.path.exists(os.path.join(root, "cgroup.controllers")) and \
            _statfs_type(root) == _CGROUP2_MAGIC
    except OSError:
        return False


def _statfs_type(path: str) -> int:
    global _libc
    import ctypes

    buf = (ctypes.c_long * 16)()
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.statfs(path.encode(), buf) != 0:
        raise OSError(ctypes.get_errno(), path)
    return buf[0]


_libc = None


def open_cgroup(path: str, root: str = CGROUP_ROOT) -> CgroupV1 | CgroupV2 | PidGroup:
    """The cgroup at OCI cgroupsPath `path`, for whichever version the host runs (a rootless
    engine's stand-in without one: runtime/pidgroup.py)."""
    if rootless.active():
        from dockyard.runtime import delegation

        found = delegation.found()
        if found is None or not found.contains(path):
            return PidGroup(path)
        if isinstance(found, delegation.V1):
            return CgroupV1(path, found.hierarchies)
        return CgroupV2(path, found.mount, delegated=found.base)
    if is_unified(root):
        return CgroupV2(path, root)
    return CgroupV1(path, v1_hierarchies())


_MOUNTINFO = "/proc/self/mountinfo"
_hierarchies: dict[int, dict[str, str]] = {}  # mount namespace -> its hierarchies


def v1_hierarchies(mountinfo: str = _MOUNTINFO) -> dict[str, str]:
    """Mounted v1 hierarchies: mount point -> controllers ('cpu,cpuacct', 'name=systemd').
    A hybrid host's cgroup2 mount is included (controllers 'unified') so processes join it
    too, as runc does.

    Read once per process and mount namespace (a forked child inherits it): reading the
    mount table takes the kernel's one host-wide mount lock, which queues behind every
    mount and unmount of every other engine on the host (seen at ~100 ms a read while
    other roots were busy), and a start asked for the hierarchies five times."""
    if mountinfo != _MOUNTINFO:
        return _read_hierarchies(mountinfo)
    namespace = os.stat("/proc/self/ns/mnt").st_ino
    if namespace not in _hierarchies:
        _hierarchies[namespace] = _standard_hierarchies() or _read_hierarchies(mountinfo)
    return dict(_hierarchies[namespace])


def _standard_hierarchies() -> dict[str, str] | None:
    """The hierarchies without the mount table, where they are laid out as systemd and
    cgroupfs-mount lay them out: each hierarchy /proc/self/cgroup names mounted at
    /sys/fs/cgroup/<its controllers> (name=systemd at .../systemd), the cgroup2 one, if
    any, at .../unified. Each is checked to be a mount of that kind; None if one is not.
    With 1,400 mounts on the host (other engines' containers) and their mounts and unmounts
    going on: 0.3-0.4 ms, where reading the table took 22-35 ms."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
        root = os.stat(CGROUP_ROOT).st_dev
        found = {}
        for line in lines:
            controllers = line.split(":", 2)[1]
            name = controllers.removeprefix("name=") if controllers else "unified"
            mount = os.path.join(CGROUP_ROOT, name)
            try:
                mounted = os.stat(mount).st_dev != root and \
                    _statfs_type(mount) == (_CGROUP_MAGIC if controllers else _CGROUP2_MAGIC)
            except OSError:
                mounted = False
            if mounted:
                found[mount] = controllers or "unified"
            elif controllers:
                return None  # mounted elsewhere, or not at all: the table says
    except (OSError, IndexError):
        return None
    return found or None


def _read_hierarchies(mountinfo: str) -> dict[str, str]:
    """Only the cgroup lines are split: the table holds two mounts per running container
    (rootfs and network namespace), ~2,000 lines with 1,000 running, a dozen of them cgroups."""
    found: dict[str, str] = {}
    with open(mountinfo, "rb") as f:
        table = f.read().decode()
    at = table.find(" - cgroup")
    while at >= 0:
        end = table.find("\n", at)
        end = len(table) if end < 0 else end
        fields = table[table.rfind("\n", 0, at) + 1:end].split()
        at = table.find(" - cgroup", end)
        sep = fields.index("-")
        fstype, super_opts = fields[sep + 1], fields[sep + 3]
        if fstype == "cgroup":
            controllers = [o for o in super_opts.split(",")
                           if o not in ("rw", "ro") and not o.startswith("release_agent")]
            found[fields[4]] = ",".join(controllers)
        elif fstype == "cgroup2":
            found[fields[4]] = "unified"
    return found


def _write(path: Path, value: str | int) -> None:
    try:
        path.write_text(str(value))
    except OSError as err:
        # the kernel refusing the value itself means the limit asked for is not one it takes
        refused = InvalidArgument if err.errno in (errno.EINVAL, errno.ERANGE) else DockyardError
        raise refused(f"cannot write {value} to {path}: {err.strerror}") from None


def _write_known(path: Path | None, value: str | int, field: str,
                 why: str = "not supported by this host's cgroups") -> None:
    """Write a limit whose file may not exist here (a controller not mounted, a kernel
    without the feature): then the spec field is refused by name, never ignored."""
    if path is None or not path.exists():
        raise DockyardError(f"{field}: {why}")
    _write(path, value)


def _refuse(values: dict, keys: tuple[str, ...], why: str, field: str = "linux.resources") -> None:
    for key in keys:
        if values.get(key):
            raise DockyardError(f"{field}.{key}: {why}")


# OCI blockIO throttle -> v1 blkio.throttle.* file and v2 io.max key
_THROTTLES = {"throttleReadBpsDevice": "read_bps_device", "throttleWriteBpsDevice": "write_bps_device",
              "throttleReadIOPSDevice": "read_iops_device", "throttleWriteIOPSDevice": "write_iops_device"}
_IO_MAX_KEYS = {"throttleReadBpsDevice": "rbps", "throttleWriteBpsDevice": "wbps",
                "throttleReadIOPSDevice": "riops", "throttleWriteIOPSDevice": "wiops"}


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default


def _read_int(path: Path) -> int:
    value = _read(path, "0")
    return 0 if value == "max" else int(value)


def _keyed(path: Path) -> dict[str, str]:
    """A flat keyed file ('key value' per line) such as memory.oom_control or cpu.stat."""
    result = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        result[key] = value.strip()
    return result


def _counters(path: Path) -> dict[str, int]:
    """A keyed file of whole numbers (memory.stat, cpuacct.stat); lines that are not are left out."""
    return {k: int(v) for k, v in _keyed(path).items() if v.isdigit()}


def _rmdir_retrying(path: Path) -> None:
    """rmdir a cgroup whose last processes may still be exiting (EBUSY for a moment)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise DockyardError(f"cannot remove cgroup {path}: {err.strerror}")
            time.sleep(0.02)


class CgroupV1:
    """One directory per mounted v1 hierarchy."""

    def __init__(self, path: str, hierarchies: dict[str, str]) -> None:
        self.path = "/" + path.strip("/")
        self.hierarchies = hierarchies
        self._dirs = {mnt: Path(mnt + self.path) for mnt in hierarchies}

    def dir(self, controller: str) -> Path | None:
        """Directory of this cgroup in the hierarchy that holds `controller`."""
        for mnt, controllers in self.hierarchies.items():
            if controller in controllers.split(","):
                return self._dirs[mnt]
        return None

    def dirs(self) -> dict[str, Path]:
        """Mount point -> this cgroup's directory there (what the container mounts)."""
        return dict(self._dirs)

    def create(self) -> None:
        for mnt, directory in self._dirs.items():
            _again_if_parent_vanished(lambda: directory.mkdir(parents=True, exist_ok=True))
        cpuset = self.dir("cpuset")
        if cpuset is not None:
            self._init_cpuset(cpuset)

    def _init_cpuset(self, leaf: Path) -> None:
        """A new v1 cpuset starts with no cpus or mems, so nothing could run in it: copy
        each level's values from its parent, top down."""
        mnt = next(m for m, d in self._dirs.items() if d == leaf)
        current = Path(mnt)
        for part in self.path.strip("/").split("/"):
            child = current / part
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read(child / name):
                    _write(child / name, _read(current / name))
            current = child

    def apply(self, resources: dict) -> None:
        memory = resources.get("memory") or {}
        mem = self.dir("memory")
        if mem is not None:
            if memory.get("limit"):
                _write(mem / "memory.limit_in_bytes", memory["limit"])
            if memory.get("swap"):
                if not swap_limit_supported():
                    raise DockyardError("linux.resources.memory.swap: this kernel does not "
                                        "account swap (no memory.memsw.limit_in_bytes)")
                _write(mem / "memory.memsw.limit_in_bytes", memory["swap"])
            if memory.get("reservation"):
                _write(mem / "memory.soft_limit_in_bytes", memory["reservation"])
            if memory.get("swappiness") is not None:
                _write(mem / "memory.swappiness", memory["swappiness"])
            if memory.get("disableOOMKiller"):
                _write(mem / "memory.oom_control", 1)
            # memory.kernel is deprecated and, as crun does, ignored (config-linux.md allows it)
            if memory.get("kernelTCP") is not None:
                _write_known(mem / "memory.kmem.tcp.limit_in_bytes", memory["kernelTCP"],
                             "linux.resources.memory.kernelTCP")
        cpu = resources.get("cpu") or {}
        cpu_dir = self.dir("cpu")
        if cpu_dir is not None:
            if cpu.get("shares"):
                _write(cpu_dir / "cpu.shares", cpu["shares"])
            if cpu.get("period"):
                _write(cpu_dir / "cpu.cfs_period_us", cpu["period"])
            if cpu.get("quota"):
                _write(cpu_dir / "cpu.cfs_quota_us", cpu["quota"])
            for key, name in (("realtimePeriod", "cpu.rt_period_us"),
                              ("realtimeRuntime", "cpu.rt_runtime_us"), ("burst", "cpu.cfs_burst_us"),
                              ("idle", "cpu.idle")):
                if cpu.get(key):
                    _write_known(cpu_dir / name, cpu[key], f"linux.resources.cpu.{key}")
        cpuset = self.dir("cpuset")
        if cpuset is not None:
            if cpu.get("cpus"):
                _write(cpuset / "cpuset.cpus", cpu["cpus"])
            if cpu.get("mems"):
                _write(cpuset / "cpuset.mems", cpu["mems"])
        pids = self.dir("pids")
        if pids is not None and (resources.get("pids") or {}).get("limit"):
            limit = resources["pids"]["limit"]
            _write(pids / "pids.max", "max" if limit <= 0 else limit)
        devices = self.dir("devices")
        if devices is not None and "devices" in resources:
            rules = (resources["devices"] or []) + device_bpf.DEFAULT_ALLOWED
            _check_v1_expressible(rules)
            for rule in rules:
                _write(devices / ("devices.allow" if rule.get("allow") else "devices.deny"),
                       device_rule(rule))
        self._apply_block_io(resources.get("blockIO") or {})
        for entry in resources.get("hugepageLimits") or []:
            hugetlb = self.dir("hugetlb")
            _write_known(hugetlb and hugetlb / f"hugetlb.{entry.get('pageSize')}.limit_in_bytes",
                         entry.get("limit", 0), "linux.resources.hugepageLimits",
                         f"page size {entry.get('pageSize')!r} is not supported on this host")
        network = resources.get("network") or {}
        if network.get("classID") is not None:
            net_cls = self.dir("net_cls")
            _write_known(net_cls and net_cls / "net_cls.classid", network["classID"],
                         "linux.resources.network.classID",
                         "the net_cls cgroup controller is not mounted on this host")
        for entry in network.get("priorities") or []:
            net_prio = self.dir("net_prio")
            _write_known(net_prio and net_prio / "net_prio.ifpriomap",
                         f"{entry['name']} {entry['priority']}", "linux.resources.network.priorities",
                         "the net_prio cgroup controller is not mounted on this host")
        _refuse(resources, ("rdma", "unified"), "needs cgroup v2 or a controller this host lacks")

    def _apply_block_io(self, block_io: dict) -> None:
        if not block_io:
            return
        blkio = self.dir("blkio")
        field = "linux.resources.blockIO"
        for key, name in (("weight", "blkio.weight"), ("leafWeight", "blkio.leaf_weight")):
            if block_io.get(key):
                _write_known(blkio and blkio / name, block_io[key], f"{field}.{key}")
        for entry in block_io.get("weightDevice") or []:
            for key, name in (("weight", "blkio.weight_device"),
                              ("leafWeight", "blkio.leaf_weight_device")):
                if entry.get(key):
                    _write_known(blkio and blkio / name,
                                 f"{entry['major']}:{entry['minor']} {entry[key]}",
                                 f"{field}.weightDevice")
        for key, name in _THROTTLES.items():
            for entry in block_io.get(key) or []:
                _write_known(blkio and blkio / f"blkio.throttle.{name}",
                             f"{entry['major']}:{entry['minor']} {entry['rate']}", f"{field}.{key}")

    def add(self, pid: int) -> None:
        for directory in self._dirs.values():
            _write(directory / "cgroup.procs", pid)

    def procs(self) -> list[int]:
        directory = self.dir("pids") or self.dir("memory") or next(iter(self._dirs.values()))
        return [int(p) for p in _read(directory / "cgroup.procs").split()]

    def freeze(self) -> None:
        self._set_freezer("FROZEN")

    def thaw(self) -> None:
        self._set_freezer("THAWED")

    def _set_freezer(self, state: str) -> None:
        freezer = self.dir("freezer")
        if freezer is None:
            raise DockyardError("the freezer cgroup controller is not mounted")
        deadline = time.monotonic() + 5
        while True:
            _write(freezer / "freezer.state", state)
            settle = time.monotonic() + 0.1
            while _read(freezer / "freezer.state") != state:
                if time.monotonic() > settle:
                    break
                time.sleep(0.005)
            else:
                return
            if time.monotonic() > deadline:
                raise DockyardError(f"cgroup {self.path} did not reach {state}")
            if state == "FROZEN":  # a task frozen while it exits holds the cgroup FREEZING: thaw, try again (as runc)
                _write(freezer / "freezer.state", "THAWED")

    def frozen(self) -> bool:
        freezer = self.dir("freezer")
        return freezer is not None and _read(freezer / "freezer.state") == "FROZEN"

    def stats(self) -> CgroupStats:
        stats = CgroupStats()
        mem = self.dir("memory")
        if mem is not None:
            stats.memory_usage = _read_int(mem / "memory.usage_in_bytes")
            stats.memory_max_usage = _read_int(mem / "memory.max_usage_in_bytes")
            stats.memory_limit = _read_int(mem / "memory.limit_in_bytes")
            oom = _keyed(mem / "memory.oom_control")
            stats.oom_kills = int(oom.get("oom_kill", 0))
            stats.under_oom = oom.get("under_oom") == "1"
            stats.memory_stat = _counters(mem / "memory.stat")
        cpuacct = self.dir("cpuacct")
        if cpuacct is not None:
            stats.cpu_usage_ns = _read_int(cpuacct / "cpuacct.usage")
            tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
            split = _counters(cpuacct / "cpuacct.stat")
            stats.cpu_user_ns, stats.cpu_kernel_ns = split.get("user", 0) * tick, split.get("system", 0) * tick
            stats.percpu_ns = [int(x) for x in _read(cpuacct / "cpuacct.usage_percpu").split()]
        pids = self.dir("pids")
        if pids is not None:
            stats.pids_current = _read_int(pids / "pids.current")
        return stats

    def delete(self) -> None:
        for directory in self._dirs.values():
            _rmdir_retrying(directory)


def device_rule(rule: dict) -> str:
    """An OCI device rule as the v1 devices controller spells it: 'c 1:3 rwm'."""
    def number(value: int | None) -> str:
        return "*" if value is None or value < 0 else str(value)

    kind = rule.get("type") or "a"
    if kind == "a":
        return "a"
    return f"{kind} {number(rule.get('major'))}:{number(rule.get('minor'))} {rule.get('access') or 'rwm'}"


def _overlap(one: dict, other: dict) -> bool:
    """Whether two v1 rules (neither of type 'a') match a device in common."""
    def wild(rule: dict, key: str) -> bool:
        return rule.get(key) is None or rule[key] < 0

    return one.get("type") == other.get("type") and all(
        wild(one, key) or wild(other, key) or one[key] == other[key] for key in ("major", "minor"))


def _check_v1_expressible(rules: list[dict]) -> None:
    """Refuse rules the v1 devices controller would get wrong. It keeps a default (all
    allowed or all denied) and a list of exceptions; a rule against the default removes
    only an exception for exactly its own type and numbers, so one that would carve
    devices out of a wildcard exception (deny c 10:229 after allow c 10:*) or take a
    wildcard out of narrower ones would silently not apply."""
    default_allow, exceptions = True, []
    for rule in rules:
        allow = bool(rule.get("allow"))
        if (rule.get("type") or "a") == "a":
            default_allow, exceptions = allow, []
        elif allow != default_allow:
            exceptions.append(rule)
        else:
            for exception in exceptions:
                if _overlap(exception, rule) and device_rule(exception).split()[:2] != \
                        device_rule(rule).split()[:2]:
                    raise DockyardError(
                        f"linux.resources.devices: cgroup v1 cannot {'allow' if allow else 'deny'} "
                        f"{device_rule(rule)!r} across the earlier {device_rule(exception)!r}")


def swap_limit_supported(root: str = CGROUP_ROOT) -> bool:
    """Whether the kernel accounts swap, so memory+swap can be limited (dockerd's
    SwapLimit): on v1 the memory hierarchy has memory.memsw.limit_in_bytes (a regular
    file: swapaccount=0 or a node bound over it hides it), on v2 memory.swap.max."""
    if is_unified(root):
        return True  # checked on the container's own group, where memory may be enabled
    memory = next((mnt for mnt, controllers in v1_hierarchies().items()
                   if "memory" in controllers.split(",")), None)
    try:
        return memory is not None and \
            stat.S_ISREG(os.stat(os.path.join(memory, "memory.memsw.limit_in_bytes")).st_mode)
    except OSError:
        return False


def cpu_weight(shares: int) -> int:
    """v1 cpu.shares [2, 262144] mapped onto v2 cpu.weight [1, 10000], as runc and crun do."""
    return 1 + ((shares - 2) * 9999) // 262142


# OCI linux.resources field -> the v2 controller whose files it writes
_V2_FIELDS = {
    ("memory", "limit"): "memory", ("memory", "swap"): "memory", ("memory", "reservation"): "memory",
    ("cpu", "quota"): "cpu", ("cpu", "period"): "cpu", ("cpu", "shares"): "cpu",
    ("cpu", "burst"): "cpu", ("cpu", "idle"): "cpu", ("cpu", "cpus"): "cpuset",
    ("cpu", "mems"): "cpuset", ("pids", "limit"): "pids", ("blockIO", "weight"): "io",
    **{("blockIO", key): "io" for key in _IO_MAX_KEYS},
}


def _v2_controllers(resources: dict) -> list[tuple[str, str]]:
    """(field, controller) for each limit set in `resources`."""
    needed = [(f"{group}.{key}", controller) for (group, key), controller in _V2_FIELDS.items()
              if (resources.get(group) or {}).get(key) not in (None, 0, [], "")]
    if resources.get("hugepageLimits"):
        needed.append(("hugepageLimits", "hugetlb"))
    for key in resources.get("unified") or {}:
        prefix = key.partition(".")[0]
        if prefix not in ("cgroup", "") and "/" not in key:
            needed.append((f"unified.{key}", prefix))
    return needed


class CgroupV2:
    """One directory in the unified hierarchy."""

    def __init__(self, path: str, mount: str = CGROUP_ROOT, delegated: str = "") -> None:
        self.path = "/" + path.strip("/")
        self.mount = Path(mount)
        self.directory = self.mount / self.path.strip("/")
        # a rootless engine's group, below the cgroup `delegated` to its user (runtime/delegation.py)
        self.delegated = delegated.strip("/")

    def dirs(self) -> dict[str, Path]:
        return {str(self.mount): self.directory}

    def create(self) -> None:
        """Make the directory and enable the controllers in every ancestor's
        subtree_control, or the leaf would have no limit files."""
        _again_if_parent_vanished(self._make)

    def _make(self) -> None:
        """From the top (a delegated group's: its subtree_control is its settler's,
        delegation.settle), each level enables its available controllers for the next."""
        current = self.mount / self.delegated
        for level, part in enumerate(self.path.strip("/").removeprefix(self.delegated).strip("/").split("/")):
            if level or not self.delegated:
                available = _read(current / "cgroup.controllers").split()
                enabled = _read(current / "cgroup.subtree_control").split()
                missing = [c for c in _V2_CONTROLLERS if c in available and c not in enabled]
                if missing:
                    _write(current / "cgroup.subtree_control", " ".join("+" + c for c in missing))
            current = current / part
            current.mkdir(exist_ok=True)

    def apply(self, resources: dict) -> None:
        d = self.directory
        self._check_controllers(resources)
        memory = resources.get("memory") or {}
        limit = memory.get("limit")
        if limit:
            _write(d / "memory.max", "max" if limit < 0 else limit)
        swap = memory.get("swap")
        if swap:
            # OCI swap is memory+swap; v2 limits swap alone
            _write_known(d / "memory.swap.max", "max" if swap < 0 else max(swap - (limit or 0), 0),
                         "linux.resources.memory.swap", "this kernel does not account swap")
        if memory.get("reservation"):
            _write(d / "memory.low", memory["reservation"])
        cpu = resources.get("cpu") or {}
        if cpu.get("quota") or cpu.get("period"):
            quota = cpu.get("quota") or -1
            _write(d / "cpu.max", f"{'max' if quota < 0 else quota} {cpu.get('period') or 100000}")
        if cpu.get("shares"):
            _write(d / "cpu.weight", cpu_weight(cpu["shares"]))
        for key, name in (("burst", "cpu.max.burst"), ("idle", "cpu.idle")):
            if cpu.get(key) is not None:
                _write_known(d / name, cpu[key], f"linux.resources.cpu.{key}")
        if cpu.get("cpus"):
            _write(d / "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            _write(d / "cpuset.mems", cpu["mems"])
        pids = (resources.get("pids") or {}).get("limit")
        if pids:
            _write(d / "pids.max", "max" if pids <= 0 else pids)
        block_io = resources.get("blockIO") or {}
        if block_io.get("weight"):
            _write(d / "io.weight", f"default {block_io['weight']}")
        for key, name in _IO_MAX_KEYS.items():
            for entry in block_io.get(key) or []:
                _write(d / "io.max", f"{entry['major']}:{entry['minor']} {name}={entry['rate']}")
        for entry in resources.get("hugepageLimits") or []:
            _write_known(d / f"hugetlb.{entry.get('pageSize')}.max", entry.get("limit", 0),
                         "linux.resources.hugepageLimits",
                         f"page size {entry.get('pageSize')!r} is not supported on this host")
        for key, value in (resources.get("unified") or {}).items():
            if "/" in key or key.startswith("."):
                raise DockyardError(f"linux.resources.unified: invalid key {key!r}")
            _write_known(d / key, value, f"linux.resources.unified.{key}")
        if memory.get("kernelTCP") is not None:
            raise DockyardError("linux.resources.memory.kernelTCP: not available on cgroup v2")
        _refuse(cpu, ("realtimePeriod", "realtimeRuntime"), "not available on cgroup v2",
                "linux.resources.cpu")
        _refuse(resources, ("network", "rdma"), "not available on cgroup v2")
        _refuse(block_io, ("leafWeight", "weightDevice"), "not available on cgroup v2",
                "linux.resources.blockIO")
        if "devices" in resources and not self.delegated:  # a user may not attach a device program
            device_bpf.apply(str(d), resources["devices"] or [])

    def _check_controllers(self, resources: dict) -> None:
        """A limit whose controller the parent does not delegate to this group has no file
        to go to: refused by the field's name."""
        enabled = set(_read(self.directory / "cgroup.controllers").split())
        for field, controller in _v2_controllers(resources):
            if controller not in enabled:
                raise DockyardError(f"linux.resources.{field}: the {controller} controller is not "
                                    f"enabled in cgroup {self.path}")

    def add(self, pid: int) -> None:
        if self.delegated:  # the kernel's containment rule: the mover must be inside the delegated cgroup
            from dockyard.runtime.delegation import Delegated, v2_cgroup

            if not Delegated(self.delegated).contains(v2_cgroup() or "/"):
                raise DockyardError(f"this command runs outside your delegated cgroup /{self.delegated}, so it "
                                    f"cannot move containers into it: run dockyard from a shell inside it")
        _write(self.directory / "cgroup.procs", pid)

    def kill(self) -> bool:
        """SIGKILL every process in the group at once, forks in flight included (cgroup.kill,
        kernel 5.14+); False where the kernel lacks it."""
        try:
            (self.directory / "cgroup.kill").write_text("1")
        except FileNotFoundError:
            return False
        return True

    def procs(self) -> list[int]:
        return [int(p) for p in _read(self.directory / "cgroup.procs").split()]

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def _set_frozen(self, frozen: bool) -> None:
        _write(self.directory / "cgroup.freeze", int(frozen))
        deadline = time.monotonic() + 5
        while self.frozen() != frozen and (self.directory / "cgroup.events").exists():
            if time.monotonic() > deadline:
                raise DockyardError(f"cgroup {self.path} did not {'freeze' if frozen else 'thaw'}")
            time.sleep(0.01)

    def frozen(self) -> bool:
        return _keyed(self.directory / "cgroup.events").get("frozen") == "1"

    def stats(self) -> CgroupStats:
        d = self.directory
        events = _keyed(d / "memory.events")
        cpu = _counters(d / "cpu.stat")
        return CgroupStats(
            memory_usage=_read_int(d / "memory.current"),
            memory_max_usage=_read_int(d / "memory.peak"),
            memory_limit=_read_int(d / "memory.max"),
            oom_kills=int(events.get("oom_kill", 0)),
            cpu_usage_ns=cpu.get("usage_usec", 0) * 1000,
            # without the pids controller (a rootless engine's delegated cgroup may lack it): the processes
            pids_current=_read_int(d / "pids.current") if (d / "pids.current").exists() else len(self.procs()),
            cpu_user_ns=cpu.get("user_usec", 0) * 1000,
            cpu_kernel_ns=cpu.get("system_usec", 0) * 1000,
            memory_stat=_counters(d / "memory.stat"),
        )

    def delete(self) -> None:
        _rmdir_retrying(self.directory)


def start_migration_grace() -> None:
    """Move this process into the cgroup it is already in. The kernel makes the first cgroup
    migration after a quiet spell wait for an RCU grace period (~11 ms here), and later ones
    during that period do not: a caller about to have a child move a container's init into
    its new group does this meanwhile, on its otherwise idle core. Best effort."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, path = line.split(":", 2)
        name = controllers.split(",")[0].removeprefix("name=")
        directory = os.path.join(CGROUP_ROOT, name, path.lstrip("/")) if name else \
            os.path.join(CGROUP_ROOT, path.lstrip("/"))
        try:
            with open(os.path.join(directory, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            return
        except OSError:
            continue


def _again_if_parent_vanished(make: Callable[[], None], attempts: int = 5) -> None:
    """Run `make` (a cgroup's creation), again if a shared parent went between its mkdir and
    ours: another container's removal takes an empty shared parent away (remove_empty_parent)."""
    for attempt in range(attempts):
        try:
            make()
            return
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise


def remove_empty_parent(parent: str) -> None:
    """A parent cgroup goes with its last container, so nothing of ours stays in the hierarchy."""
    parent = parent.strip("/")
    if not parent:
        return
    if rootless.active():
        from dockyard.runtime import delegation

        found = delegation.found()
        if found is None or not found.contains(parent) or found.base.strip("/") == parent:
            return  # not below the user's delegated cgroup, or that cgroup itself
        hierarchies = [Path(mount) for mount in found.mounts()]
    else:
        hierarchies = [Path(CGROUP_ROOT)] if is_unified() else Path(CGROUP_ROOT).iterdir()
    for hierarchy in hierarchies:
        try:
            (hierarchy / parent).rmdir()
        except OSError:
            pass  # not there, or still holds other containers
