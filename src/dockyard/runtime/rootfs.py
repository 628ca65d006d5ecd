"""The container's filesystem view, built inside its new mount namespace: spec mounts,
device nodes, /dev symlinks, pivot_root, masked and read-only paths, read-only root.

Every mount goes through a `Syscalls` object; plain directory and file creation happens on
the real rootfs, so the whole sequence runs unprivileged against a recording fake.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from dockyard.runtime import linux
from dockyard.runtime.linux import Syscalls
from dockyard.runtime.securejoin import secure_join

# option -> (flags to set, flags to clear)
_FLAGS = {
    "ro": (linux.MS_RDONLY, 0), "rw": (0, linux.MS_RDONLY),
    "nosuid": (linux.MS_NOSUID, 0), "suid": (0, linux.MS_NOSUID),
    "nodev": (linux.MS_NODEV, 0), "dev": (0, linux.MS_NODEV),
    "noexec": (linux.MS_NOEXEC, 0), "exec": (0, linux.MS_NOEXEC),
    "sync": (linux.MS_SYNCHRONOUS, 0), "async": (0, linux.MS_SYNCHRONOUS),
    "dirsync": (linux.MS_DIRSYNC, 0), "remount": (linux.MS_REMOUNT, 0),
    "mand": (linux.MS_MANDLOCK, 0), "nomand": (0, linux.MS_MANDLOCK),
    "atime": (0, linux.MS_NOATIME), "noatime": (linux.MS_NOATIME, 0),
    "diratime": (0, linux.MS_NODIRATIME), "nodiratime": (linux.MS_NODIRATIME, 0),
    "relatime": (linux.MS_RELATIME, 0), "norelatime": (0, linux.MS_RELATIME),
    "strictatime": (linux.MS_STRICTATIME, 0), "nostrictatime": (0, linux.MS_STRICTATIME),
    "lazytime": (linux.MS_LAZYTIME, 0), "nolazytime": (0, linux.MS_LAZYTIME),
    "nosymfollow": (linux.MS_NOSYMFOLLOW, 0), "symfollow": (0, linux.MS_NOSYMFOLLOW),
    "bind": (linux.MS_BIND, 0), "rbind": (linux.MS_BIND | linux.MS_REC, 0),
    "defaults": (0, 0),
}
_PROPAGATION = {
    "private": linux.MS_PRIVATE, "rprivate": linux.MS_PRIVATE | linux.MS_REC,
    "shared": linux.MS_SHARED, "rshared": linux.MS_SHARED | linux.MS_REC,
    "slave": linux.MS_SLAVE, "rslave": linux.MS_SLAVE | linux.MS_REC,
    "unbindable": linux.MS_UNBINDABLE, "runbindable": linux.MS_UNBINDABLE | linux.MS_REC,
}
# nodes every container gets, as runc creates them
DEFAULT_DEVICES = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0},
]
_DEV_LINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
              ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
              ("pts/ptmx", "/dev/ptmx")]


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """(mount flags, propagation flags, filesystem data) for OCI mount options."""
    flags = propagation = 0
    data = []
    for option in options:
        if option in _FLAGS:
            set_flags, clear = _FLAGS[option]
            flags = (flags | set_flags) & ~clear
        elif option in _PROPAGATION:
            propagation |= _PROPAGATION[option]
        elif option != "tmpcopyup":
            data.append(option)
    return flags, propagation, ",".join(data)


def _locked_flags(path: str) -> int:
    """nosuid/nodev/noexec/ro of the mount at `path`; a bind remount must keep them."""
    flags = os.statvfs(path).f_flag
    result = 0
    for st_flag, ms_flag in ((os.ST_NOSUID, linux.MS_NOSUID), (os.ST_NODEV, linux.MS_NODEV),
                             (os.ST_NOEXEC, linux.MS_NOEXEC), (os.ST_RDONLY, linux.MS_RDONLY)):
        if flags & st_flag:
            result |= ms_flag
    return result


def _pinned_mount_point_of(path: str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The mount point `path` lives on, when that mount is shared or unbindable; else None."""
    best, pinned = "", False
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ")
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best = point
                pinned = any(o.startswith("shared:") or o == "unbindable"
                             for o in fields[6:fields.index("-")])
    return best if best and pinned else None


def _same_device(path: str, kind: int, major: int, minor: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_IFMT(st.st_mode) == kind and \
        (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)


def _make_target(path: str, directory: bool) -> None:
    if directory:
        os.makedirs(path, exist_ok=True)
    elif not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a"):
            pass


class RootfsBuilder:
    """Builds the mount tree of one container from its spec, in the current mount ns."""

    def __init__(self, sys: Syscalls, spec: dict, bundle: str,
                 cgroup_dirs: dict[str, str] | None = None) -> None:
        self.sys = sys
        self.spec = spec
        self.linux = spec.get("linux") or {}
        self.rootfs = os.path.join(bundle, spec["root"]["path"])
        self.cgroup_dirs = cgroup_dirs or {}

    def prepare(self, before_pivot: Callable[[], None] | None = None) -> None:
        """Everything up to and including pivot_root; `before_pivot` runs with every mount
        in place (the createContainer hooks)."""
        asked = self.linux.get("rootfsPropagation") or "rslave"
        # a recursively unbindable tree could not give the container its mounts (the rootfs,
        # cgroup directories, binds): it becomes one after pivot_root
        self.sys.mount("", "/", "", _PROPAGATION["rslave" if asked == "runbindable" else asked])
        # pivot_root refuses a shared parent and an unbindable one cannot be bound (which
        # anything but a recursive slave or private may leave): that mount goes private;
        # the propagation asked for is set on the new root after pivot_root
        parent = None if asked in ("rslave", "rprivate") else _pinned_mount_point_of(self.rootfs)
        if parent is not None:
            self.sys.mount("", parent, "", linux.MS_PRIVATE)
        try:
            self.sys.mount(self.rootfs, self.rootfs, "", linux.MS_BIND | linux.MS_REC)
        except PermissionError:
            raise OSError(f"root.path: {self.rootfs} is not reachable by the container's root "
                          "(a mapped root needs search permission on every directory to it)")
        dev_bound = False
        for mount in self.spec.get("mounts") or []:
            self.mount(mount)
            if os.path.normpath(mount["destination"]) == "/dev":
                dev_bound = mount.get("type") == "bind" or \
                    bool(parse_options(mount.get("options") or [])[0] & linux.MS_BIND)
        if not dev_bound:  # as runc: the nodes are made unless the host's /dev is bound
            self.make_devices()
        if before_pivot is not None:
            before_pivot()
        self.pivot()

    def mount(self, m: dict) -> None:
        """One spec mount, its target resolved inside the rootfs."""
        target = secure_join(self.rootfs, m["destination"])
        flags, propagation, data = parse_options(m.get("options") or [])
        kind = m.get("type") or ""
        if kind == "cgroup":
            self.mount_cgroups(target, flags)
        elif kind == "bind" or flags & linux.MS_BIND:
            source = m["source"]
            if not source.startswith("/"):
                source = os.path.join(os.path.dirname(self.rootfs), source)
            _make_target(target, os.path.isdir(source))
            self.sys.mount(source, target, "", linux.MS_BIND | (flags & linux.MS_REC))
            if flags & ~(linux.MS_BIND | linux.MS_REC):
                self.sys.mount("", target, "",
                               flags | linux.MS_BIND | linux.MS_REMOUNT | _locked_flags(target))
        else:
            _make_target(target, True)
            label = self.linux.get("mountLabel")
            if label and kind in ("tmpfs", "devpts", "mqueue"):  # checks.py: SELinux is on
                data = ",".join(filter(None, [data, f'context="{label}"']))
            try:
                self.sys.mount(m.get("source") or kind, target, kind, flags, data)
            except PermissionError:
                if kind != "sysfs":
                    raise
                # as runc: a user namespace may mount sysfs only for a network namespace it owns
                # (not the host's, with --network host rootless): the caller's /sys, bound read-only
                self.sys.mount("/sys", target, "", linux.MS_BIND | linux.MS_REC)
                self.sys.mount("", target, "", flags | linux.MS_RDONLY | linux.MS_BIND | linux.MS_REMOUNT
                               | _locked_flags(target))
        if propagation:
            self.sys.mount("", target, "", propagation)

    def mount_cgroups(self, target: str, flags: int) -> None:
        """The container's own cgroup directories, bound read-only (unless the spec says
        rw) under a tmpfs for v1, or straight onto `target` for v2."""
        if set(self.cgroup_dirs) == {""}:
            _make_target(target, True)
            self.sys.mount(self.cgroup_dirs[""], target, "", linux.MS_BIND)
            self.sys.mount("", target, "", linux.MS_BIND | linux.MS_REMOUNT | flags
                           | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
            return
        _make_target(target, True)
        self.sys.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV
                       | linux.MS_NOEXEC, "mode=755")
        for name, host_dir in sorted(self.cgroup_dirs.items()):
            sub = os.path.join(target, name)
            _make_target(sub, True)
            self.sys.mount(host_dir, sub, "", linux.MS_BIND)
            self.sys.mount("", sub, "", linux.MS_BIND | linux.MS_REMOUNT | flags
                           | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
            for alias in name.split(","):
                link = os.path.join(target, alias)
                if alias != name and not os.path.lexists(link):
                    os.symlink(name, link)
        if flags & linux.MS_RDONLY:
            self.sys.mount("", target, "", linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID
                           | linux.MS_NODEV | linux.MS_NOEXEC)

    def make_devices(self) -> None:
        """Default and spec device nodes: mknod, or where mknod is not allowed (a user
        namespace) a bind of the host's node at that path if it is that very device;
        then the /dev symlinks."""
        nodes = {d["path"]: d for d in DEFAULT_DEVICES}
        nodes.update({d["path"]: d for d in self.linux.get("devices") or []})
        for node in nodes.values():
            path = secure_join(self.rootfs, node["path"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK,
                    "p": stat.S_IFIFO}[node["type"]]
            mode = node.get("fileMode", 0o666)
            try:
                self.sys.mknod(path, kind | mode, os.makedev(node.get("major", 0),
                                                            node.get("minor", 0)))
                os.chmod(path, mode)
                os.chown(path, node.get("uid", 0), node.get("gid", 0))
            except PermissionError:
                if not _same_device(node["path"], kind, node.get("major", 0), node.get("minor", 0)):
                    raise OSError(f"linux.devices: cannot create {node['path']}: mknod is not "
                                  "permitted here and the host has no such node to bind")
                _make_target(path, False)
                self.sys.mount(node["path"], path, "", linux.MS_BIND)
        links = list(_DEV_LINKS)
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        for source, link in links:
            path = os.path.join(self.rootfs, link.lstrip("/"))
            if not os.path.lexists(path):
                os.symlink(source, path)

    def pivot(self) -> None:
        """pivot_root into the rootfs and detach the old root (never chroot: a chroot can
        be escaped, a detached old root cannot be reached)."""
        old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        new_root = os.open(self.rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fchdir(new_root)
            self.sys.pivot_root(".", ".")
            os.fchdir(old_root)
            self.sys.mount("", ".", "", linux.MS_SLAVE | linux.MS_REC)
            self.sys.umount2(".", linux.MNT_DETACH)
        finally:
            os.close(old_root)
            os.close(new_root)
        os.chdir("/")

    def finalize(self, root: str = "/") -> None:
        """After pivot_root: sysctls, masked and read-only paths, read-only root."""
        for key, value in (self.linux.get("sysctl") or {}).items():
            with open(os.path.join(root, "proc/sys", key.replace(".", "/")), "w") as f:
                f.write(value)
        for path in self.linux.get("readonlyPaths") or []:
            self.readonly(os.path.join(root, path.lstrip("/")))
        for path in self.linux.get("maskedPaths") or []:
            self.mask(os.path.join(root, path.lstrip("/")))
        if self.spec["root"].get("readonly"):
            self.sys.mount("", root, "", linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
                           | _locked_flags(root))
        if self.linux.get("rootfsPropagation"):
            self.sys.mount("", root, "", _PROPAGATION[self.linux["rootfsPropagation"]])

    def readonly(self, path: str) -> None:
        if not os.path.exists(path):
            return
        self.sys.mount(path, path, "", linux.MS_BIND | linux.MS_REC)
        self.sys.mount("", path, "", linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
                       | _locked_flags(path))

    def mask(self, path: str) -> None:
        """Hide `path`: /dev/null over a file, an empty read-only tmpfs over a directory."""
        if os.path.isdir(path):
            self.sys.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY)
        elif os.path.exists(path):
            self.sys.mount("/dev/null", path, "", linux.MS_BIND)
