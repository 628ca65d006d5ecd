"""CRI values to and from dockyard's records: states, times, and the security and resource
settings a CRI request carries, as the Docker create request the engine already checks."""

from __future__ import annotations

from dockyard.containers.views import epoch
from dockyard.errors import InvalidArgument

# NamespaceMode values of the CRI
POD, CONTAINER, NODE, TARGET = 0, 1, 2, 3
# ContainerState values
CREATED, RUNNING, EXITED, UNKNOWN = 0, 1, 2, 3
# SecurityProfile.ProfileType
RUNTIME_DEFAULT, UNCONFINED, LOCALHOST = 0, 1, 2
_PROPAGATION = {0: "rprivate", 1: "rslave", 2: "rshared"}


def nanos(rfc3339: str) -> int:
    return int(epoch(rfc3339) * 1e9) if rfc3339 and not rfc3339.startswith("0001-") else 0


def container_state(status: str) -> int:
    if status == "created":
        return CREATED
    if status in ("running", "paused", "restarting"):
        return RUNNING
    if status in ("exited", "dead"):
        return EXITED
    return UNKNOWN


def user(ctx) -> str:
    """run_as_user / run_as_username with run_as_group as Docker's `User`."""
    name = str(ctx.run_as_user.value) if ctx.HasField("run_as_user") else ctx.run_as_username
    if ctx.HasField("run_as_group"):
        if not name:
            raise InvalidArgument("run_as_group is set but neither run_as_user nor run_as_username is")
        return f"{name}:{ctx.run_as_group.value}"
    return name


def seccomp(profile, security_opt: list[str]) -> None:
    if profile.profile_type == UNCONFINED:
        security_opt.append("seccomp=unconfined")
    elif profile.profile_type == LOCALHOST:
        if not profile.localhost_ref.startswith("/"):
            raise InvalidArgument(f"seccomp localhost profile must be an absolute path, not {profile.localhost_ref!r}")
        security_opt.append(f"seccomp={profile.localhost_ref}")


def resources(res, host_config: dict) -> None:
    """LinuxContainerResources as HostConfig limits (0 means unset, as in the CRI)."""
    for field, key in (("cpu_period", "CpuPeriod"), ("cpu_quota", "CpuQuota"), ("cpu_shares", "CpuShares"),
                       ("memory_limit_in_bytes", "Memory"), ("oom_score_adj", "OomScoreAdj"),
                       ("memory_swap_limit_in_bytes", "MemorySwap")):
        value = getattr(res, field)
        if value:
            host_config[key] = value
    if res.cpuset_cpus:
        host_config["CpusetCpus"] = res.cpuset_cpus
    if res.cpuset_mems:
        host_config["CpusetMems"] = res.cpuset_mems


def bind(mount) -> str:
    """A CRI Mount as a Docker bind: host:container[:ro],propagation."""
    if not mount.host_path.startswith("/") or not mount.container_path.startswith("/"):
        raise InvalidArgument(f"mount paths must be absolute: {mount.host_path!r} -> {mount.container_path!r}")
    opts = ["ro" if mount.readonly else "rw", _PROPAGATION.get(mount.propagation, "rprivate")]
    return f"{mount.host_path}:{mount.container_path}:{','.join(opts)}"
