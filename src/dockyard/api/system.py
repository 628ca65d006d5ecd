"""System endpoints: /_ping, /version, /info, /system/df, /auth."""

from __future__ import annotations

import os
import platform
import socket
import time

from aiohttp import web

from dockyard import __version__, rootless
from dockyard.api import version
from dockyard.api.requests import blocking, body, engine, ok
from dockyard.runtime import cgroups, delegation

routes = web.RouteTableDef()
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}


def go_arch() -> str:
    """The architecture as Go (and so Docker) spells it."""
    return _GO_ARCH.get(platform.machine(), platform.machine())


@routes.get(version.path("/_ping"))  # and HEAD, which aiohttp answers without the body
async def ping(request: web.Request) -> web.Response:
    """The negotiation entry point: clients read API-Version (and Builder-Version) from here."""
    from dockyard.api.buildkit import enabled

    headers = {"Builder-Version": "2" if enabled(engine(request)) else "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
               "Swarm": "inactive"}
    return web.Response(text="OK", headers=headers, content_type="text/plain")


@routes.get(version.path("/version"))
async def version_info(request: web.Request) -> web.Response:
    details = {"ApiVersion": version.MAX_VERSION, "Arch": go_arch(), "BuildTime": "", "Experimental": "false",
               "GitCommit": "", "GoVersion": f"python{platform.python_version()}", "KernelVersion": platform.release(),
               "MinAPIVersion": version.MIN_VERSION, "Os": "linux"}
    return ok({"Platform": {"Name": "dockyard"},
               "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
               "Version": __version__, "ApiVersion": version.MAX_VERSION, "MinAPIVersion": version.MIN_VERSION,
               "GitCommit": "", "GoVersion": details["GoVersion"], "Os": "linux", "Arch": go_arch(),
               "KernelVersion": platform.release(), "BuildTime": ""})


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        return fields.get("PRETTY_NAME", "Linux").strip('"')
    except OSError:
        return "Linux"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _info(eng) -> dict:
    containers = eng.containers.list(all=True)
    states = [c.status for c in containers]
    cgroup_v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    swap_limit = cgroups.swap_limit_supported()
    limits, no_cgroups = dict.fromkeys(delegation.INFO_LIMITS, True), False
    if rootless.active():  # what the cgroups delegated to the user hold (runtime/delegation.py)
        delegated = delegation.found()
        limits, no_cgroups = delegation.info_limits(), delegated is None
        cgroup_v2 = isinstance(delegated, delegation.V2) or (cgroup_v2 and no_cgroups)
    swap_limit = swap_limit and limits["MemoryLimit"]
    return {
        "ID": eng.id, "Containers": len(containers), "ContainersRunning": states.count("running"),
        "ContainersPaused": states.count("paused"),
        "ContainersStopped": len(states) - states.count("running") - states.count("paused"),
        "Images": len(eng.images.list()), "Driver": eng.storage_driver,
        "DriverStatus": [["Backing Filesystem", "vfs" if eng.storage_driver == "vfs" else "extfs"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": None,
                    "Log": ["json-file"]},
        **limits, "SwapLimit": swap_limit, "IPv4Forwarding": True, "BridgeNfIptables": False,
        "BridgeNfIp6tables": False, "Debug": False, "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": False, "NGoroutines": 0, "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "LoggingDriver": "json-file", "CgroupDriver": "none" if no_cgroups else "cgroupfs", "CgroupVersion": "2" if cgroup_v2 else "1",
        "NEventsListener": 0, "KernelVersion": platform.release(), "OperatingSystem": _os_name(),
        "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": eng.registry_mirrors,
                           "AllowNondistributableArtifactsCIDRs": None, "AllowNondistributableArtifactsHostnames": None},
        "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(), "GenericResources": None,
        "DockerRootDir": str(eng.root), "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""), "NoProxy": os.environ.get("NO_PROXY", ""),
        "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {"dockyard": {"path": "dockyard-runtime"}, "runc": {"path": "runc"}, "crun": {"path": "crun"}},
        "DefaultRuntime": "dockyard", "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                                               "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""}, "SecurityOptions": ["name=seccomp,profile=builtin"] +
        (["name=cgroupns"] if cgroup_v2 else []) + (["name=rootless"] if rootless.active() else []),
        "Warnings": _warnings(limits, swap_limit, no_cgroups),
    }


# dockerd's words for limits it cannot set, which the docker CLI prints
_NO_SUPPORT = {"MemoryLimit": "memory limit", "CpuCfsQuota": "cpu cfs quota", "CpuCfsPeriod": "cpu cfs period",
               "CPUShares": "cpu shares", "CPUSet": "cpuset", "PidsLimit": "pids limit"}


def _warnings(limits: dict[str, bool], swap_limit: bool, no_cgroups: bool) -> list[str] | None:
    if no_cgroups:
        return ["WARNING: Running in rootless-mode without cgroups: limits need cgroup v2 with a subtree "
                "delegated to your user, or cgroup v1 groups from `dockyard system delegate-cgroups`"]
    found = [f"WARNING: No {what} support" for field, what in _NO_SUPPORT.items() if not limits[field]]
    found += [] if swap_limit else ["WARNING: No swap limit support"]
    return found or None


@routes.get(version.path("/info"))
async def info(request: web.Request) -> web.Response:
    return ok(await blocking(_info, engine(request)))


def _df(eng) -> dict:
    from dockyard.api.images import image_summaries
    from dockyard.containers.views import sizes
    from dockyard.snapshots.base import dir_size

    containers = eng.containers.list(all=True)
    by_image: dict[str, int] = {}
    for c in containers:
        by_image[c.image_id] = by_image.get(c.image_id, 0) + 1
    listed = eng.images.list()
    images = image_summaries(eng, listed)
    shared = _shared_sizes(eng, listed)
    for img in images:
        img["Containers"] = by_image.get(img["Id"], 0)
        img["SharedSize"] = shared[img["Id"]]
    container_rows = []
    for c in containers:
        container_rows.append({**eng.containers.summary(c), **sizes(eng.containers, c)})
    volumes = []
    for v in eng.volumes.list():
        users = eng.volumes.users_of(v["Name"])
        size = dir_size(eng.volumes.path(v["Name"]))
        volumes.append({**v, "UsageData": {"Size": size, "RefCount": len(users)}})
    return {"LayersSize": eng.images.disk_usage(), "Images": images, "Containers": container_rows,
            "Volumes": volumes, "BuildCache": []}


def _shared_sizes(eng, images: list) -> dict[str, int]:
    """Image ID -> bytes of its layers that another image holds too (what df calls shared)."""
    from dockyard.images.views import layers
    chains = {img.id: layers(eng.images, img) for img in images}
    holders: dict[str, int] = {}
    for chain in chains.values():
        for key, _ in chain:
            holders[key] = holders.get(key, 0) + 1
    return {i: sum(size for key, size in chain if holders[key] > 1) for i, chain in chains.items()}


@routes.get(version.path("/system/df"))
async def system_df(request: web.Request) -> web.Response:
    return ok(await blocking(_df, engine(request)))


@routes.post(version.path("/auth"))
async def auth(request: web.Request) -> web.Response:
    """Check credentials against the registry without keeping them: as with dockerd, the client
    stores them (with the identity token, when the registry's token service gives one)."""
    from dockyard.api.registryauth import from_authconfig
    from dockyard.distribution.credentials import Credentials
    from dockyard.distribution.login import verify

    doc = await body(request)
    server = doc.get("serveraddress") or None  # a string: the body's types were checked (api.validation)
    creds = from_authconfig(doc) or Credentials()
    token = await blocking(verify, server, creds, insecure_registries=engine(request).insecure_registries)
    return ok({"Status": "Login Succeeded", "IdentityToken": token})
