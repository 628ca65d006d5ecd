"""OCI runtime-spec config.json for a container, built the way `docker run` builds it.

`RunOptions` carries the HostConfig/Config fields that shape the spec (names follow
Docker's HostConfig in snake case); `generate_spec` merges them with the image config and
reads the rootfs only for /etc/passwd and /etc/group, so the result is a pure description
any OCI runtime (dockyard's own, runc, crun) can run.
"""

from __future__ import annotations

import os
import stat

from dockyard import rootless
from dockyard.errors import InvalidArgument
from dockyard.plainclass import Factory, plainclass
from dockyard.runtime import caps as capabilities
from dockyard.runtime.device_bpf import DEFAULT_ALLOWED
from dockyard.runtime import seccomp
from dockyard.runtime.identity import lookup_user, process_env
from dockyard.runtime.procpaths import MASKED_PATHS, READONLY_PATHS

OCI_VERSION = "1.0.2"

# Device cgroup rules every docker container gets: mknod of anything, and use of the
# standard character devices (null, zero, full, random, urandom, tty, pts, ptmx, tun).
DEFAULT_DEVICE_RULES = [{"allow": False, "access": "rwm"}, *DEFAULT_ALLOWED]

RLIMITS = {
    "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}


@plainclass
class Ulimit:
    """One --ulimit: name as docker spells it ('nofile'), soft and hard values."""

    name: str
    soft: int
    hard: int


@plainclass
class DeviceMapping:
    """One --device host[:container[:permissions]]."""

    path_on_host: str
    path_in_container: str = ""
    cgroup_permissions: str = "rwm"


@plainclass
class Mount:
    """A volume, bind or tmpfs mount already resolved to a host source by the volume service."""

    target: str
    source: str = ""
    type: str = "bind"  # bind | volume | tmpfs
    read_only: bool = False
    propagation: str = "rprivate"
    tmpfs_size: int = 0
    tmpfs_mode: int = 0


@plainclass
class RunOptions:
    """What the container service decided for one container (docker's HostConfig + Config)."""

    container_id: str = ""
    cgroup_parent: str = "/dockyard"
    # process
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = Factory(list)
    link_env: list[str] = Factory(list)  # legacy links' variables, before the image's Env
    workdir: str = ""
    user: str = ""
    group_add: list[str] = Factory(list)
    tty: bool = False
    init: bool = False
    init_path: str = ""
    ulimits: list[Ulimit] = Factory(list)
    oom_score_adj: int = 0
    # security
    privileged: bool = False
    cap_add: list[str] = Factory(list)
    cap_drop: list[str] = Factory(list)
    security_opt: list[str] = Factory(list)
    readonly_rootfs: bool = False
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    # namespaces
    hostname: str = ""
    domainname: str = ""
    netns_path: str = ""
    network_mode: str = ""  # "" (own netns), "host", "none"
    pid_mode: str = ""  # "" or "host"
    ipc_mode: str = ""  # "" or "host"
    uts_mode: str = ""  # "" or "host"
    ns_paths: dict[str, str] = Factory(dict)  # pid/ipc/uts namespaces joined by path
    cgroupns_mode: str = "private"  # "private" or "host"
    uid_maps: list[tuple[int, int, int]] = Factory(list)
    gid_maps: list[tuple[int, int, int]] = Factory(list)
    sysctls: dict[str, str] = Factory(dict)
    # filesystem
    mounts: list[Mount] = Factory(list)
    tmpfs: dict[str, str] = Factory(dict)
    shm_size: int = 64 * 1024 * 1024
    shm_path: str = ""  # /dev/shm bound from here (the host's, for --ipc host), not a tmpfs of its own
    hosts_path: str = ""
    hostname_path: str = ""
    resolv_conf_path: str = ""
    devices: list[DeviceMapping] = Factory(list)
    device_cgroup_rules: list[str] = Factory(list)
    # resources
    memory: int = 0
    memory_swap: int = 0
    swap_limit: bool = True  # whether the kernel accounts swap (dockerd's SwapLimit)
    memory_reservation: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int | None = None


def command(opts: RunOptions, image_config: dict) -> list[str]:
    """Entrypoint + Cmd with docker's rules: an explicit entrypoint (even an empty one)
    replaces the image's; the image's Cmd is used only when no Cmd was given and the
    entrypoint was not replaced by a non-empty one."""
    image_entrypoint = image_config.get("Entrypoint") or []
    image_cmd = image_config.get("Cmd") or []
    entrypoint = opts.entrypoint
    if entrypoint == [""]:
        entrypoint = []
    if entrypoint:
        args = list(entrypoint) + list(opts.cmd or [])
    else:
        cmd = opts.cmd if opts.cmd else image_cmd
        args = list(image_entrypoint if entrypoint is None else []) + list(cmd)
    if not args:
        raise InvalidArgument("no command specified")
    return args


def _security(opts: RunOptions) -> tuple[dict | None, bool, bool]:
    """(seccomp profile or None, no_new_privileges, unconfined system paths)."""
    profile: dict | None = seccomp.default_profile()
    nnp = False
    unmask = False
    for opt in opts.security_opt:
        cut = min((i for i in (opt.find("="), opt.find(":")) if i >= 0), default=len(opt))
        key, value = opt[:cut], opt[cut + 1:]
        if key == "seccomp":
            profile = seccomp.load_profile_option(value)
        elif key == "no-new-privileges":
            nnp = value.lower() in ("", "true", "1")
        elif key == "systempaths":
            unmask = value == "unconfined"
        elif key not in ("apparmor", "label"):
            raise InvalidArgument(f"invalid --security-opt: {opt!r}")
    if opts.privileged:
        profile = None
    return profile, nnp, unmask


def _parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "b": 1}
    text = text.strip().lower()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _mounts(opts: RunOptions) -> list[dict]:
    sys_ro = [] if opts.privileged else ["ro"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev"] + sys_ro},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime"] + sys_ro},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "bind", "source": opts.shm_path, "options": ["rbind", "rprivate"]}
        if opts.shm_path else
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777",
                     f"size={max(opts.shm_size, 1) // 1024}k"]},
    ]
    for dest, path in (("/etc/resolv.conf", opts.resolv_conf_path),
                       ("/etc/hostname", opts.hostname_path), ("/etc/hosts", opts.hosts_path)):
        if path:
            mounts.append({"destination": dest, "type": "bind", "source": path,
                           "options": ["rbind", "rprivate"]})
    for m in opts.mounts:
        if m.type == "tmpfs":
            options = ["nosuid", "nodev", "noexec"]
            options += [f"size={m.tmpfs_size}"] if m.tmpfs_size else []
            options += [f"mode={m.tmpfs_mode:o}"] if m.tmpfs_mode else []
            mounts.append({"destination": m.target, "type": "tmpfs", "source": "tmpfs",
                           "options": options + (["ro"] if m.read_only else [])})
        elif m.type in ("bind", "volume"):
            options = ["rbind", m.propagation or "rprivate"] + (["ro"] if m.read_only else [])
            mounts.append({"destination": m.target, "type": "bind", "source": m.source,
                           "options": options})
        else:
            raise InvalidArgument(f"unsupported mount type {m.type!r}")
    for target, text in opts.tmpfs.items():
        extra = [o for o in text.split(",") if o]
        mounts.append({"destination": target, "type": "tmpfs", "source": "tmpfs",
                       "options": ["noexec", "nosuid", "nodev"] + extra})
    if opts.init:
        if not opts.init_path:
            raise InvalidArgument("--init needs an init binary (init_path)")
        mounts.append({"destination": "/sbin/docker-init", "type": "bind",
                       "source": opts.init_path, "options": ["bind", "ro"]})
    # a later mount on the same target replaces a default one, as in docker
    by_target: dict[str, dict] = {}
    for m in mounts:
        by_target.pop(os.path.normpath(m["destination"]), None)
        by_target[os.path.normpath(m["destination"])] = m
    return list(by_target.values())


def _device(host: str, container: str, permissions: str) -> tuple[dict, dict]:
    """(linux.devices entry, cgroup rule) for one host device node."""
    try:
        st = os.stat(host)
    except OSError as err:
        raise InvalidArgument(f'error gathering device information while adding custom device "{host}": '
                              f"{(err.strerror or '').lower()}") from None  # dockerd's words (Go's errno text)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise InvalidArgument(f"{host} is not a device node")
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    node = {"path": container or host, "type": kind, "major": major, "minor": minor,
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    rule = {"allow": True, "type": kind, "major": major, "minor": minor,
            "access": permissions or "rwm"}
    return node, rule


def _host_devices() -> list[dict]:
    """Every device node under the host's /dev, for --privileged."""
    nodes = []
    for dirpath, dirnames, filenames in os.walk("/dev"):
        dirnames[:] = [d for d in dirnames if d not in ("pts", "shm", "mqueue")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                if path not in ("/dev/console", "/dev/ptmx", "/dev/tty"):
                    nodes.append(_device(path, path, "rwm")[0])
    return nodes


def _device_cgroup_rule(text: str) -> dict:
    """'c 1:3 rwm' -> OCI device rule."""
    try:
        kind, numbers, access = text.split()
        major, minor = numbers.split(":")
    except ValueError:
        raise InvalidArgument(f"invalid device cgroup rule {text!r}: want 'c 1:3 rwm'")
    rule: dict = {"allow": True, "type": kind, "access": access}
    if major != "*":
        rule["major"] = int(major)
    if minor != "*":
        rule["minor"] = int(minor)
    return rule


def _delegated(cgroups_path: str) -> bool:
    """Whether a rootless engine's container goes in a cgroup delegated to its user."""
    from dockyard.runtime import delegation

    found = delegation.found()
    return bool(cgroups_path) and found is not None and found.contains(cgroups_path)


def resources(opts: RunOptions, device_rules: list[dict] | None = None) -> dict:
    """The OCI linux.resources for the limits in `opts`; also what `update` applies to a live cgroup."""
    resources: dict = {"devices": device_rules} if device_rules is not None else {}
    memory: dict = {}
    if opts.memory:
        memory["limit"] = opts.memory
        # docker's default is as much swap as memory; without swap accounting dockerd
        # limits memory alone (and warned at create)
        if opts.swap_limit:
            memory["swap"] = opts.memory_swap or 2 * opts.memory
    if opts.memory_reservation:
        memory["reservation"] = opts.memory_reservation
    if memory:
        resources["memory"] = memory
    cpu: dict = {}
    if opts.cpu_shares:
        cpu["shares"] = opts.cpu_shares
    if opts.nano_cpus:
        if opts.cpu_quota or opts.cpu_period:
            raise InvalidArgument("conflicting options: nano_cpus and cpu_period/cpu_quota")
        cpu["period"] = 100000
        cpu["quota"] = opts.nano_cpus * 100000 // 1_000_000_000
    if opts.cpu_period:
        cpu["period"] = opts.cpu_period
    if opts.cpu_quota:
        cpu["quota"] = opts.cpu_quota
    if opts.cpuset_cpus:
        cpu["cpus"] = opts.cpuset_cpus
    if opts.cpuset_mems:
        cpu["mems"] = opts.cpuset_mems
    if cpu:
        resources["cpu"] = cpu
    if opts.pids_limit:
        resources["pids"] = {"limit": opts.pids_limit}
    return resources


def _namespaces(opts: RunOptions) -> list[dict]:
    spaces = [{"type": "mount"}]
    for kind, own in (("pid", opts.pid_mode != "host"), ("ipc", opts.ipc_mode != "host"),
                      ("uts", opts.uts_mode != "host" and opts.network_mode != "host")):
        if kind in opts.ns_paths:
            spaces.append({"type": kind, "path": opts.ns_paths[kind]})
        elif own:
            spaces.append({"type": kind})
    if opts.netns_path:
        spaces.append({"type": "network", "path": opts.netns_path})
    elif opts.network_mode != "host":
        spaces.append({"type": "network"})
    if opts.cgroupns_mode == "private":
        spaces.append({"type": "cgroup"})
    if opts.uid_maps:
        spaces.append({"type": "user"})
    return spaces


def generate_spec(opts: RunOptions, image_config: dict, rootfs: str) -> dict:
    """The OCI config.json for `opts` over an image whose config section is `image_config`
    (the image config's "config" object: Entrypoint, Cmd, Env, WorkingDir, User) and whose
    unpacked filesystem is at `rootfs`."""
    hostname = opts.hostname or opts.container_id[:12]
    args = command(opts, image_config)
    if opts.init:
        args = ["/sbin/docker-init", "--"] + args
    cap_list = capabilities.resolve(opts.cap_add, opts.cap_drop, opts.privileged)
    profile, nnp, unmask = _security(opts)
    user, home = lookup_user(opts.user or image_config.get("User") or "", rootfs, opts.group_add)
    process: dict = {
        "terminal": opts.tty,
        "user": user,
        "args": args,
        "env": process_env([*opts.link_env, *(image_config.get("Env") or []), *opts.env], hostname, opts.tty, home),
        "cwd": opts.workdir or image_config.get("WorkingDir") or "/",
        "capabilities": {"bounding": cap_list, "effective": cap_list, "permitted": cap_list},
        "noNewPrivileges": nnp,
    }
    if opts.ulimits:
        rlimits = []
        for u in opts.ulimits:
            if u.name not in RLIMITS:
                raise InvalidArgument(f"invalid ulimit type: {u.name}")
            rlimits.append({"type": RLIMITS[u.name], "soft": u.soft, "hard": u.hard})
        process["rlimits"] = rlimits
    if opts.oom_score_adj:
        process["oomScoreAdj"] = opts.oom_score_adj

    device_rules = list(DEFAULT_DEVICE_RULES)
    devices = []
    if opts.privileged:
        device_rules = [{"allow": True, "access": "rwm"}]
        devices = _host_devices()
    for mapping in opts.devices:
        node, rule = _device(mapping.path_on_host, mapping.path_in_container,
                             mapping.cgroup_permissions)
        devices.append(node)
        device_rules.append(rule)
    device_rules += [_device_cgroup_rule(r) for r in opts.device_cgroup_rules]

    linux: dict = {
        "namespaces": _namespaces(opts),
        "resources": resources(opts, device_rules),
        "cgroupsPath": f"{opts.cgroup_parent.rstrip('/')}/{opts.container_id}"
        if opts.container_id else "",
        "devices": devices,
        "maskedPaths": [] if opts.privileged or unmask else
        list(MASKED_PATHS if opts.masked_paths is None else opts.masked_paths),
        "readonlyPaths": [] if opts.privileged or unmask else
        list(READONLY_PATHS if opts.readonly_paths is None else opts.readonly_paths),
    }
    if not linux["cgroupsPath"]:
        del linux["cgroupsPath"]
    if rootless.active() and not _delegated(linux.get("cgroupsPath", "")):
        # no cgroup to put it in (runtime/pidgroup.py): runc and crun then need neither
        linux.pop("cgroupsPath", None)
        linux["resources"] = {}
    if opts.sysctls:
        linux["sysctl"] = dict(opts.sysctls)
    if opts.uid_maps:
        linux["uidMappings"] = [{"containerID": c, "hostID": h, "size": s} for c, h, s in opts.uid_maps]
        linux["gidMappings"] = [{"containerID": c, "hostID": h, "size": s}
                                for c, h, s in (opts.gid_maps or opts.uid_maps)]
    if profile is not None:
        linux["seccomp"] = seccomp.render(profile, cap_list)

    spec: dict = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": opts.readonly_rootfs},
        "hostname": hostname,
        "mounts": _mounts(opts),
        "linux": linux,
    }
    if opts.domainname:
        spec["domainname"] = opts.domainname
    if not any(ns["type"] == "uts" for ns in linux["namespaces"]):
        del spec["hostname"]
    return spec
