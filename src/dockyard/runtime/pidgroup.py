"""A container's processes without a cgroup: what a rootless engine uses where no cgroup is
delegated to the user (a cgroup v1 host, or v2 without a delegated subtree).

It stands in for CgroupV1/CgroupV2 (cgroups.open_cgroup returns it). The members are the
processes in the pid namespace of the first process added (the container's init), found by
their /proc/<pid>/ns/pid; the group's "directory" under the user's run dir only keeps that
init's pid and start time. Limits, freezing and usage figures need a real cgroup: limits are
refused when the container is created (refuse_limits), `pause` fails in one line, stats read 0.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dockyard.errors import DockyardError, InvalidArgument

#: HostConfig limits and the docker flag that sets each.
LIMITS = {
    "Memory": "--memory", "MemorySwap": "--memory-swap", "MemoryReservation": "--memory-reservation",
    "KernelMemory": "--kernel-memory", "NanoCpus": "--cpus", "CpuShares": "--cpu-shares",
    "CpuQuota": "--cpu-quota", "CpuPeriod": "--cpu-period", "CpuRealtimePeriod": "--cpu-rt-period",
    "CpuRealtimeRuntime": "--cpu-rt-runtime", "CpusetCpus": "--cpuset-cpus", "CpusetMems": "--cpuset-mems",
    "PidsLimit": "--pids-limit", "BlkioWeight": "--blkio-weight", "BlkioWeightDevice": "--blkio-weight-device",
    "BlkioDeviceReadBps": "--device-read-bps", "BlkioDeviceWriteBps": "--device-write-bps",
    "BlkioDeviceReadIOps": "--device-read-iops", "BlkioDeviceWriteIOps": "--device-write-iops",
    "OomKillDisable": "--oom-kill-disable",
}
WHY = "rootless dockyard has no cgroup to set it in: it needs cgroup v2 with a subtree delegated to your user"


def refuse_limits(host_config: dict) -> None:
    """One line naming the first limit flag `host_config` sets."""
    for key, flag in LIMITS.items():
        value = host_config.get(key)
        if value not in (None, 0, "", [], False) and not (key == "PidsLimit" and value == -1):
            raise InvalidArgument(f"{flag}: {WHY}")


def state_root() -> Path:
    from dockyard.rootless import paths
    return paths.run_dir() / "pidgroups"


class PidGroup:
    def __init__(self, path: str, root: Path | None = None) -> None:
        self.path = path
        self.directory = (root or state_root()) / path.strip("/").replace("/", "_")

    def dir(self, controller: str) -> Path | None:
        return None

    def dirs(self) -> dict[str, Path]:
        return {}

    def create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def apply(self, resources: dict) -> None:
        limits = {k: v for k, v in resources.items() if k != "devices" and v}
        if limits:
            raise InvalidArgument(f"linux.resources {', '.join(sorted(limits))}: {WHY}")

    def add(self, pid: int) -> None:
        from dockyard.runtime.shim.records import process_start_time

        if self._leader() is None:
            self.create()
            (self.directory / "leader").write_text(f"{pid} {process_start_time(pid)}\n")

    def _leader(self) -> int | None:
        from dockyard.runtime.shim.records import process_start_time

        try:
            pid, start_time = (int(v) for v in (self.directory / "leader").read_text().split())
        except (OSError, ValueError):
            return None
        return pid if process_start_time(pid) == start_time else None

    def procs(self) -> list[int]:
        leader = self._leader()
        if leader is None:
            return []
        try:
            space = os.readlink(f"/proc/{leader}/ns/pid")
        except OSError:
            return []
        if space == os.readlink("/proc/self/ns/pid"):  # a container in the host's pid namespace
            return [leader]
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if os.readlink(f"/proc/{name}/ns/pid") == space:
                        found.append(int(name))
                except OSError:
                    continue
        return found

    def freeze(self) -> None:
        raise DockyardError(f"pausing a container needs the freezer cgroup: {WHY}")

    thaw = freeze

    def frozen(self) -> bool:
        return False

    def stats(self):
        from dockyard.runtime.cgroups import CgroupStats
        return CgroupStats(pids_current=len(self.procs()))

    def delete(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
