"""Where a container's files live, on its engine's root and run dir: the container service
and the read-only commands (cli/readonly.py, which loads nothing else) find them here."""

from __future__ import annotations

from pathlib import Path

from dockyard import locations, rootless
from dockyard.containers import logdrivers
from dockyard.containers.runtimes import builtin
from dockyard.runtime.shim.records import state_dir


class ContainerPaths:
    def __init__(self, engine) -> None:
        self.engine = engine

    def dir(self, cid: str) -> Path:
        """Persistent files: hosts, hostname, resolv.conf, the json log."""
        return Path(locations.container_dir(self.engine.root, cid))

    def run_dir(self, cid: str) -> Path:
        """Runtime state: the bundle, the rootfs mount, the shim's sockets and files."""
        return Path(locations.container_run_dir(self.engine.run_dir, cid))

    def shim_dir(self, cid: str) -> Path:
        """The shim's state dir (records.state_dir)."""
        return Path(state_dir(self.engine.run_dir, cid))

    def graph(self, c) -> tuple[str, Path | None]:
        """The storage driver's name and the container's own snapshot directory (None before it has one)."""
        snaps = self.engine.snapshots
        snap = snaps.get(c.id)
        return snaps.name, (snaps.root / snap.dir if snap else None)

    @property
    def cgroup_parent(self) -> str:
        """Where container cgroups go unless a container names its own (dockerd's cgroup-parent)."""
        return self._rootless_parent(self.engine.config.get("cgroup-parent") or self._own_parent())

    def _own_parent(self) -> str:
        return "/dockyard" if self.engine.default_root else f"/dockyard-{self.engine.id}"  # a root's own

    def _cgroup_parent(self, c) -> str:
        if rootless.active() and not builtin(c.host_config.get("Runtime") or "dockyard"):
            return self._own_parent()  # rootless runc and crun get no cgroup of ours (runtime/delegation.py)
        given = c.host_config.get("CgroupParent")
        return self._rootless_parent(given) if given else self.cgroup_parent

    def _cgroup_path(self, c) -> str:
        """The container's OCI cgroupsPath."""
        return f"{self._cgroup_parent(c).rstrip('/')}/{c.id}"

    @staticmethod
    def _rootless_parent(parent: str) -> str:
        """A rootless engine's parents are below the user's delegated cgroup, where there is one."""
        if not rootless.active():
            return parent
        from dockyard.runtime import delegation
        return delegation.cgroup_parent(parent)

    def pids(self, c) -> list[int]:
        """The processes in the container's cgroup."""
        from dockyard.errors import DockyardError
        from dockyard.runtime import cgroups

        try:
            return cgroups.open_cgroup(self._cgroup_path(c)).procs()
        except (OSError, DockyardError):
            return []

    def log_path(self, c) -> Path:
        """docker's `<id>-json.log` in the container's dir, or the file a k8s-file log names."""
        return Path(logdrivers.log_file(self.engine.root, c))

