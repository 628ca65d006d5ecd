"""A container's processes without a cgroup: what a rootless engine uses where no cgroup is
delegated to the user (runtime/delegation.py: a cgroup v1 host, or v2 without a delegated subtree).

It stands in for CgroupV1/CgroupV2 (cgroups.open_cgroup returns it). The members are the
processes in the pid namespaces of the processes added (the container's init, its execs), found
by their /proc/<pid>/ns/pid; the group's "directory" under the user's run dir only keeps the
added processes' pids and start times. Limits, freezing and usage figures need a real cgroup: limits are
refused when the container is created (delegation.refuse_limits), `pause` fails in one line, stats read 0.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.runtime.delegation import NOT_DELEGATED

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
            raise InvalidArgument(f"linux.resources {', '.join(sorted(limits))}: {NOT_DELEGATED}")

    def add(self, pid: int) -> None:
        """Remember `pid` (the runtime adds its own helper, the container's init, each exec's
        process), forgetting those that ended."""
        from dockyard.runtime.shim.records import process_start_time

        self.create()
        members = [f"{p} {t}" for p, t in self._members()] + [f"{pid} {process_start_time(pid)}"]
        tmp = self.directory / f".members.{os.getpid()}"
        tmp.write_text("".join(line + "\n" for line in members))
        os.replace(tmp, self.directory / "members")

    def _members(self) -> list[tuple[int, int]]:
        """(pid, start time) of the added processes still alive."""
        from dockyard.runtime.shim.records import process_start_time

        try:
            lines = (self.directory / "members").read_text().splitlines()
        except OSError:
            return []
        alive = []
        for line in lines:
            try:
                pid, start_time = (int(v) for v in line.split())
            except ValueError:
                continue
            if process_start_time(pid) == start_time:
                alive.append((pid, start_time))
        return alive

    def procs(self) -> list[int]:
        """Every process in the pid namespaces of the live members (a member in ours, as with
        --pid host, stands for itself only)."""
        ours = _pid_namespace(os.getpid())
        found, spaces = set(), set()
        for pid, _ in self._members():
            space = _pid_namespace(pid)  # None: not readable (a runtime helper, not yet dumpable)
            if space == ours:
                found.add(pid)
            elif space is not None:
                spaces.add(space)
        if spaces:
            found.update(int(name) for name in os.listdir("/proc")
                         if name.isdigit() and _pid_namespace(name) in spaces)
        return sorted(found)

    def freeze(self) -> None:
        raise DockyardError(f"pausing a container needs the freezer cgroup: {NOT_DELEGATED}")

    thaw = freeze

    def frozen(self) -> bool:
        return False

    def stats(self):
        from dockyard.runtime.cgroups import CgroupStats
        return CgroupStats(pids_current=len(self.procs()))

    def delete(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _pid_namespace(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None
