"""`rm` (by force: killed first) and `container prune`."""

from __future__ import annotations

import shutil

from dockyard import rootless
from dockyard.containers.runtimes import builtin
from dockyard.errors import Conflict
from dockyard.runtime import cgroups


class Remove:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.running:
            if not force:
                raise Conflict(f'cannot remove container "/{c.name}": container is {c.status}: '
                               "stop the container before removing or force remove")
            if c.status == "paused":
                self.unpause(c.id)
            self._kill_now(c)
            c = self.get(c.id)
            if c.running:  # the shim did not answer: end it ourselves
                c = self.finalize(c, {"exit_code": 137, "error": "removed by force"})
                self._kill_orphan(c)
        # under the lifecycle lock: a `wait` for the removal answers once it is released, after `destroy`
        with self._lifecycle(c.id, missing_ok=True):
            if self.store.find(c.id) is None:
                return  # another client removed it meanwhile
            self._release(c)
            self.store.delete(c.id)
            self._remove_rootfs(c.id)
            if volumes:
                self._remove_anonymous_volumes(c)
            shutil.rmtree(self.dir(c.id), ignore_errors=True)
            shutil.rmtree(self.run_dir(c.id), ignore_errors=True)
            shutil.rmtree(self.shim_dir(c.id), ignore_errors=True)
            if rootless.active() and not builtin(c.host_config.get("Runtime") or "dockyard"):
                cgroups.open_cgroup(self._cgroup_path(c)).delete()  # what start recorded of runc's and crun's
            cgroups.remove_empty_parent(self._cgroup_parent(c))
            self.event(c, "destroy")

    def prune(self, filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
        from dockyard.containers.filters import matches
        removed, freed = [], 0
        for c in self.list(all=True):
            if c.running or (filters and not matches(self, c, filters, prune=True)):
                continue
            if self.engine.snapshots.exists(c.id):
                freed += self.engine.snapshots.usage(c.id)
            self.remove(c.id)
            removed.append(c.id)
        return removed, freed
