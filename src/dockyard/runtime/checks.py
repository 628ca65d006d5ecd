"""What a config.json asks for that this runtime cannot do on this host: refused before
anything is set up, with the field named, never ignored (runtime.md: "If the runtime is
unable to create the environment specified in the config.json, it MUST generate an error").

Resource limits are checked where they are applied (cgroups.py); this is everything else.
"""

from __future__ import annotations

import os
import resource

from dockyard.errors import InvalidArgument
from dockyard.runtime import caps
from dockyard.runtime.linux import NAMESPACES

CAPABILITY_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave",
                "unbindable", "runbindable")
# fields of the spec this runtime does not implement (config.md, config-linux.md)
_UNSUPPORTED = {
    "process": ("ioPriority", "scheduler", "execCPUAffinity"),
    "linux": ("intelRdt", "personality", "timeOffsets", "memoryPolicy", "netDevices"),
}


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def check_process(process: dict, field: str = "process") -> None:
    """A process (the container's or an exec's): capabilities this host can grant, and
    security labels this host can apply."""
    host = set(caps.host_capabilities())
    for kind in CAPABILITY_SETS:
        for name in (process.get("capabilities") or {}).get(kind) or []:
            if name not in caps.CAPABILITIES:
                raise InvalidArgument(f"{field}.capabilities.{kind}: unknown capability {name}")
            if name not in host:
                raise InvalidArgument(f"{field}.capabilities.{kind}: {name} is not in this "
                                      "host's bounding set")
    if process.get("apparmorProfile") and not apparmor_enabled():
        raise InvalidArgument(f"{field}.apparmorProfile: AppArmor is not enabled on this host")
    if process.get("selinuxLabel") and not selinux_enabled():
        raise InvalidArgument(f"{field}.selinuxLabel: SELinux is not enabled on this host")
    for limit in process.get("rlimits") or []:
        if not limit.get("type", "").startswith("RLIMIT_") or not hasattr(resource, limit["type"]):
            raise InvalidArgument(f"{field}.rlimits: unknown type {limit.get('type')!r}")
        if limit.get("soft", 0) > limit.get("hard", 0):
            raise InvalidArgument(f"{field}.rlimits: {limit['type']} soft limit above its hard limit")
    for name in _UNSUPPORTED["process"]:
        if process.get(name) is not None:
            raise InvalidArgument(f"{field}.{name}: not supported by dockyard-runtime")


def check(spec: dict) -> None:
    """The whole config."""
    check_process(spec.get("process") or {})
    linux = spec.get("linux") or {}
    seen = set()
    for ns in linux.get("namespaces") or []:
        kind = ns.get("type")
        if kind not in NAMESPACES:
            raise InvalidArgument(f"linux.namespaces: unsupported namespace type {kind!r}")
        if kind in seen:
            raise InvalidArgument(f"linux.namespaces: {kind} given twice")
        seen.add(kind)
    propagation = linux.get("rootfsPropagation")
    if propagation and propagation not in PROPAGATIONS:
        raise InvalidArgument(f"linux.rootfsPropagation: invalid value {propagation!r}")
    if linux.get("mountLabel") and not selinux_enabled():
        raise InvalidArgument("linux.mountLabel: SELinux is not enabled on this host")
    for name in _UNSUPPORTED["linux"]:
        if linux.get(name) is not None:
            raise InvalidArgument(f"linux.{name}: not supported by dockyard-runtime")
    seccomp = linux.get("seccomp") or {}
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if seccomp.get(key):
            raise InvalidArgument(f"linux.seccomp.{key}: not supported by dockyard-runtime")
    for index, mount in enumerate(spec.get("mounts") or []):
        if mount.get("uidMappings") or mount.get("gidMappings"):
            raise InvalidArgument(f"mounts[{index}]: id-mapped mounts are not supported by "
                                  "dockyard-runtime")
