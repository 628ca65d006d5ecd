"""`pause` and `unpause`: the container's processes frozen and thawed by its runtime."""

from __future__ import annotations

from dockyard.errors import Conflict, DockyardError


class Pause:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def pause(self, ref: str) -> None:
        self._set_paused(ref, True)

    def unpause(self, ref: str) -> None:
        self._set_paused(ref, False)

    def _set_paused(self, ref: str, paused: bool) -> None:
        """Freeze or thaw every process of the container through its runtime (the freezer cgroup)."""
        c = self.get(ref)
        if paused and c.status == "paused":
            raise Conflict(f"Container {c.id} is already paused")
        if c.status != ("running" if paused else "paused"):
            raise Conflict(f"Container {c.id} is not {'running' if paused else 'paused'}")
        runtime = self._runtime(c)
        try:
            (runtime.pause if paused else runtime.resume)(c.id)
        except (OSError, DockyardError):
            if self.get(c.id).status not in ("running", "paused"):  # it exited meanwhile
                raise Conflict(f"Container {c.id} is not running") from None
            raise
        c.state.update(Status="paused" if paused else "running", Paused=paused)
        self.store.save(c, "state")
        self.event(c, "pause" if paused else "unpause")
