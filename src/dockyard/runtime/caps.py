"""Linux capabilities: names, Docker's default set and --cap-add/--cap-drop rules, and
applying a process's capability sets just before exec."""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.runtime import linux

# index = capability number (include/uapi/linux/capability.h)
CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

# What `docker run` grants when no --cap-add/--cap-drop/--privileged is given.
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]


def normalize(name: str) -> str:
    """'net_admin', 'NET_ADMIN' and 'CAP_NET_ADMIN' all name CAP_NET_ADMIN; 'ALL' stays."""
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    full = upper if upper.startswith("CAP_") else "CAP_" + upper
    if full not in CAPABILITIES:
        raise InvalidArgument(f'unknown capability: "{full}"')
    return full


def host_capabilities() -> list[str]:
    """Capabilities in this process's bounding set: all a container can be granted here."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return [c for i, c in enumerate(CAPABILITIES) if mask >> i & 1]
    return list(CAPABILITIES)


def resolve(cap_add: list[str], cap_drop: list[str], privileged: bool) -> list[str]:
    """The capability list docker computes: ALL in add grants everything not dropped, ALL in
    drop keeps only the added ones, otherwise defaults minus drops plus adds (adds win)."""
    if privileged:
        return host_capabilities()
    adds = [normalize(c) for c in cap_add]
    drops = [normalize(c) for c in cap_drop]
    if "ALL" in adds:
        return [c for c in host_capabilities() if c not in drops]
    if "ALL" in drops:
        return [c for c in dict.fromkeys(adds) if c != "ALL"]
    caps = [c for c in DEFAULT_CAPS if c not in drops]
    return list(dict.fromkeys(caps + adds))


def mask(names: list[str]) -> int:
    """Bit mask of capability names; names this table does not know are refused."""
    bits = 0
    for name in names:
        if name not in CAPABILITIES:
            raise InvalidArgument(f"unknown capability: {name!r}")
        bits |= 1 << CAPABILITIES.index(name)
    return bits


def drop_bounding(sys: linux.Syscalls, keep: list[str]) -> None:
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP, so
    this runs before the uid switch clears the effective set)."""
    last = last_cap()
    keep_mask = mask(keep)
    for number in range(last + 1):
        if not keep_mask >> number & 1:
            sys.prctl(linux.PR_CAPBSET_DROP, number)


def apply_sets(sys: linux.Syscalls, capabilities: dict) -> None:
    """Set effective/permitted/inheritable, then raise the ambient ones (which must also
    be permitted and inheritable, so they are added to inheritable)."""
    ambient = capabilities.get("ambient", [])
    inheritable = mask(list(dict.fromkeys(capabilities.get("inheritable", []) + ambient)))
    sys.capset(mask(capabilities.get("effective", [])), mask(capabilities.get("permitted", [])),
               inheritable)
    for name in ambient:
        sys.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_RAISE, CAPABILITIES.index(name))


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(CAPABILITIES) - 1


def process_masks(capabilities: dict) -> dict[str, int]:
    """Bit masks of an OCI `process.capabilities` as the init applies them: limited to this
    host's capabilities, ambient ones also inheritable."""
    host = set(host_capabilities())
    sets = {kind: [c for c in capabilities.get(kind) or [] if c in host]
            for kind in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    sets["inheritable"] = list(dict.fromkeys(sets["inheritable"] + sets["ambient"]))
    return {kind: mask(names) for kind, names in sets.items()}
