"""From a docker create request (Config + HostConfig, as the Engine API and the CLI build it)
to a validated container config and the runtime's RunOptions.

Fields dockyard does not implement are refused by name, never silently ignored, so a user
never believes a limit or a mount is in force when it is not.
"""

from __future__ import annotations

import json
import os
import re
import shutil

from dockyard.containers import health
from dockyard.errors import InvalidArgument

_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# HostConfig fields dockyard acts on; any other field with a non-empty value is refused.
HOST_CONFIG_FIELDS = {
    "Binds", "Mounts", "NetworkMode", "PortBindings", "PublishAllPorts", "RestartPolicy", "AutoRemove",
    "Privileged", "CapAdd", "CapDrop", "SecurityOpt", "ReadonlyRootfs", "Devices", "ShmSize", "Tmpfs",
    "Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod",
    "CpusetCpus", "CpusetMems", "PidsLimit", "Ulimits", "Init", "LogConfig", "Dns", "DnsSearch",
    "DnsOptions", "ExtraHosts", "GroupAdd", "OomScoreAdj", "Runtime", "Sysctls", "IpcMode", "PidMode",
    "UTSMode", "CgroupnsMode", "CgroupParent", "VolumesFrom", "ConsoleSize", "Isolation", "Links",
    "DeviceCgroupRules", "MaskedPaths", "ReadonlyPaths", "OomKillDisable", "MemorySwappiness",
    "BlkioWeight", "ContainerIDFile", "AutoRemove", "VolumeDriver",
}
# Fields docker clients always send with zero values: accepted only when empty.
_ZERO_OK = {"Cgroup", "UsernsMode", "Capabilities", "CpuCount", "CpuPercent", "IOMaximumIOps",
            "IOMaximumBandwidth", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
            "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod", "CpuRealtimeRuntime",
            "KernelMemory", "KernelMemoryTCP", "DeviceRequests", "StorageOpt", "Annotations", "LxcConf",
            "ExposedPorts"}
RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    """Docker's env merge: the request's entries as given, then those of `base` (the image's or
    the container's) whose names the request does not set."""
    if not extra:
        return list(base)
    names = {item.partition("=")[0] for item in extra}
    return [*extra, *(item for item in base if item.partition("=")[0] not in names)]


def merge_config(req: dict, image_cfg: dict) -> dict:
    """The container's Config: the request over the image's config, as `docker inspect` shows it."""
    img = image_cfg or {}
    entry_given = req.get("Entrypoint") is not None
    cmd = req.get("Cmd")
    if not cmd and not entry_given:
        cmd = img.get("Cmd")
    labels = {**(img.get("Labels") or {}), **(req.get("Labels") or {})}
    exposed = {**(img.get("ExposedPorts") or {}), **(req.get("ExposedPorts") or {})}
    volumes = {**(img.get("Volumes") or {}), **(req.get("Volumes") or {})}
    env = merge_env(img.get("Env") or [_DEFAULT_PATH], req.get("Env") or [])
    health.validate(req.get("Healthcheck"))
    healthcheck = health.merge(req.get("Healthcheck"), img.get("Healthcheck"))
    return {
        "Hostname": req.get("Hostname") or "",
        "Domainname": req.get("Domainname") or "",
        "User": req.get("User") or img.get("User") or "",
        "AttachStdin": bool(req.get("AttachStdin")),
        "AttachStdout": bool(req.get("AttachStdout", True)),
        "AttachStderr": bool(req.get("AttachStderr", True)),
        **({"ExposedPorts": exposed} if exposed else {}),  # omitted when empty, as dockerd's (omitempty)
        "Tty": bool(req.get("Tty")),
        "OpenStdin": bool(req.get("OpenStdin")),
        "StdinOnce": bool(req.get("StdinOnce")),
        "Env": env,
        "Cmd": cmd,
        "Image": req.get("Image") or "",
        "Volumes": volumes or None,
        "WorkingDir": req.get("WorkingDir") or img.get("WorkingDir") or "",
        "Entrypoint": req.get("Entrypoint") if entry_given else img.get("Entrypoint"),
        "OnBuild": None,
        "Labels": labels,
        **({"StopSignal": req.get("StopSignal") or img.get("StopSignal")} if (req.get("StopSignal") or img.get("StopSignal")) else {}),
        **({"StopTimeout": req["StopTimeout"]} if req.get("StopTimeout") is not None else {}),
        **({"MacAddress": req["MacAddress"]} if req.get("MacAddress") else {}),
        **({"Healthcheck": healthcheck} if healthcheck else {}),
    } | _reset_entrypoint(req, img)


def _reset_entrypoint(req: dict, img: dict) -> dict:
    """`--entrypoint ""` (Entrypoint [""]) clears the image's entrypoint, as dockerd reads it."""
    return {"Entrypoint": None} if req.get("Entrypoint") == [""] else {}


MIN_MEMORY = 6 << 20


def check_config(config: dict) -> None:
    """dockerd's checks of a container's Config, with its words."""
    wd = config.get("WorkingDir") or ""
    if wd and not wd.startswith("/"):
        raise InvalidArgument(f"the working directory '{wd}' is invalid, it needs to be an absolute path")
    if config.get("StopSignal"):
        from dockyard.runtime.builtin import parse_signal
        try:
            parse_signal(config["StopSignal"])
        except InvalidArgument:
            raise InvalidArgument(f"Invalid signal: {config['StopSignal']}") from None


def check_memory(hc: dict) -> None:
    """dockerd's floor for memory limits (below it the container could not even start)."""
    for key, what in (("Memory", "limit"), ("MemoryReservation", "reservation")):
        if hc.get(key) and int(hc[key]) < MIN_MEMORY:
            raise InvalidArgument(f"Minimum memory {what} allowed is 6MB")


def check_cpus(hc: dict) -> None:
    """dockerd's range for --cpus (checked at start and update, not create): 0.01 to the
    CPUs this process may run on."""
    nano = int(hc.get("NanoCpus") or 0)
    if nano:
        cpus = len(os.sched_getaffinity(0))
        if nano < 10_000_000 or nano > cpus * 1_000_000_000:
            raise InvalidArgument(f"Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available")


def _is_port(text: str) -> bool:
    return text.isdigit() and int(text) <= 65535


def _check_port_bindings(bindings: dict) -> None:
    """dockerd's checks: a container port is a number, a host port a number or a range (or empty)."""
    for key, hosts in bindings.items():
        port = key.split("/", 1)[0]
        if port and not _is_port(port):
            raise InvalidArgument(f"invalid port specification: {json.dumps(port)}")
        for binding in hosts or []:
            host = (binding or {}).get("HostPort") or ""
            start, _, end = host.split("/", 1)[0].partition("-")
            if host and not (_is_port(start) and (not end or _is_port(end) and int(end) >= int(start))):
                raise InvalidArgument(f"invalid port specification: {json.dumps(host)}")


SWAP_WARNING = ("Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
                "Memory limited without swap.")


def swap_warnings(hc: dict, swap_limit: bool) -> list[str]:
    """dockerd's rule for a memory+swap limit on a kernel without swap accounting: the
    limit is dropped (MemorySwap -1, as inspect then shows) and the create answered with
    a warning."""
    if not swap_limit and int(hc.get("Memory") or 0) > 0 and int(hc.get("MemorySwap") or 0) > 0:
        hc["MemorySwap"] = -1
        return [SWAP_WARNING]
    return []


def check_host_config(hc: dict) -> dict:
    """Refuse what dockyard cannot do; fill docker's defaults for the rest."""
    _check_port_bindings(hc.get("PortBindings") or {})
    for key, value in hc.items():
        if key in HOST_CONFIG_FIELDS:
            continue
        if key in _ZERO_OK and not value:
            continue
        if value in (None, "", 0, [], {}, False):
            continue
        raise InvalidArgument(f"HostConfig.{key} is not supported by dockyard; leave it unset")
    hc = dict(hc)
    check_memory(hc)
    if hc.get("CapAdd") or hc.get("CapDrop"):
        from dockyard.runtime import caps
        for key in ("CapAdd", "CapDrop"):
            for name in hc.get(key) or []:
                try:
                    caps.normalize(name)
                except InvalidArgument as e:
                    raise InvalidArgument(f"invalid {key}: {e.message}") from None
    rp = hc.get("RestartPolicy") or {}
    name = rp.get("Name") or ""
    if name not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy {name!r}: use no, always, unless-stopped or on-failure[:N]")
    if name != "on-failure" and rp.get("MaximumRetryCount"):
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
    if hc.get("AutoRemove") and name not in ("", "no"):
        raise InvalidArgument("conflicting options: --restart and --rm")
    hc["RestartPolicy"] = {"Name": name or "no", "MaximumRetryCount": int(rp.get("MaximumRetryCount") or 0)}
    from dockyard.containers import logdrivers
    hc["LogConfig"] = logdrivers.check(hc.get("LogConfig") or {})
    hc.setdefault("NetworkMode", "bridge")
    if not hc["NetworkMode"] or hc["NetworkMode"] == "default":
        hc["NetworkMode"] = "bridge"
    if hc.get("Runtime") not in (None, "", "dockyard", "runc", "crun", "runtime"):
        raise InvalidArgument(f"unknown or invalid runtime name: {hc['Runtime']}")
    _check_namespace_modes(hc)
    mode = hc["NetworkMode"]
    if mode.startswith("ns:") and not mode[3:].startswith("/"):  # podman's --network ns:PATH
        raise InvalidArgument(f"network namespace path must be absolute: {mode}")
    # on the default bridge a link is a legacy one (containers/links.py); on a user-defined
    # network a name for the linking container alone, which the docker CLI also sends as the
    # endpoint's Links (served by the embedded DNS)
    if hc.get("Links") and (mode == "host" or mode.startswith(("container:", "ns:"))):
        kind = "host type networking" if mode == "host" else "container type network"
        raise InvalidArgument(f"conflicting options: {kind} can't be used with links. "
                              "This would result in undefined behavior")
    return hc


def _check_namespace_modes(hc: dict) -> None:
    """IpcMode, PidMode and UTSMode as moby validates them (`container:NAME` joins another
    container's namespace; the container is looked up at start)."""
    for key, what, valid in (("IpcMode", "IPC", ("", "none", "private", "shareable", "host")),
                             ("PidMode", "PID", ("", "host")), ("UTSMode", "UTS", ("", "host"))):
        mode = hc.get(key) or ""
        joins = key != "UTSMode" and mode.startswith("container:") and mode != "container:"
        if mode not in valid and not joins:
            raise InvalidArgument(f"invalid {what} mode: {mode}")


def networking_config(nc: dict, mode: str, links: list[str] | None = None) -> dict:
    """The create request's NetworkingConfig with the docker CLI's "default" endpoint (what it
    sends for no --network) under the name of the network it stands for, and HostConfig.Links
    (a user-defined network's, as docker-py sends them) as that endpoint's Links."""
    endpoints = dict(nc.get("EndpointsConfig") or {})
    if "default" in endpoints and mode not in endpoints:
        endpoints[mode] = endpoints.pop("default")
    if links and not (endpoints.get(mode) or {}).get("Links"):
        endpoints[mode] = {**(endpoints.get(mode) or {}), "Links": list(links)}
    return {**nc, "EndpointsConfig": endpoints}


_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.I)


def parse_bytes(text: str) -> int:
    """docker's RAMInBytes: 32m, 1g, 512k, 100 (bytes)."""
    m = _SIZE_RE.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid size: '{text}'")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def log_limits(hc: dict) -> tuple[int, int]:
    from dockyard.containers.logdrivers import limits
    cfg = limits(hc)
    size = parse_bytes(cfg["max-size"]) if cfg.get("max-size") else 0
    files = int(cfg.get("max-file") or 1)
    if files < 1:
        raise InvalidArgument("max-file cannot be less than 1")
    return size, files


def init_binary() -> str:
    for name in ("docker-init", "tini-static", "tini"):
        path = shutil.which(name)
        if path and (name != "tini" or _static(path)):
            return path
    raise InvalidArgument("--init needs a static init binary: install Debian's `tini` package")


def _static(path: str) -> bool:
    with open(path, "rb") as f:
        return b"ld-linux" not in f.read(1 << 16)
