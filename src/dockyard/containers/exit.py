"""A run's end: the record brought in line with the shim (`refresh`), the exit recorded and
what the run held released once (`finalize`), and the shim's exit hook (`cleanup`, with --rm)."""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.containers import foreground, health
from dockyard.containers.record import Container, rfc3339
from dockyard.containers.runtimes import builtin, runtime_binary
from dockyard.containers.views import epoch, settled
from dockyard.network import endpoints as network_endpoints
from dockyard.errors import DockyardError, NotFound
from dockyard.runtime import cgroups


class Exit:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def refresh(self, c: Container) -> Container:
        """Bring the record in line with the shim: running, restarting, or done."""
        from dockyard.runtime.shim import protocol

        if c.status not in ("running", "paused", "restarting"):
            return c
        sd = str(self.shim_dir(c.id))
        if settled(c, sd):
            return c
        alive = protocol.shim_alive(sd)
        exit_info = protocol.read_exit(sd)
        if alive:
            if "Health" in c.state:
                c.state["Health"] = health.live(c.state, Path(sd))
            started = protocol.read_started(sd) or {}
            changed = False
            if exit_info and c.status != "restarting":
                c.state.update(Status="restarting", Restarting=True, Running=True, ExitCode=exit_info["exit_code"],
                               FinishedAt=exit_info.get("finished_at") or c.state["FinishedAt"])
                changed = True
            elif not exit_info and started.get("restart_count", 0) != c.restart_count:
                c.restart_count = started.get("restart_count", 0)
                c.state.update(Status="running", Restarting=False, Running=True, Pid=started.get("pid", c.state["Pid"]),
                               StartedAt=started.get("started_at") or c.state["StartedAt"], ExitCode=0)
                changed = True
            if changed:
                self.store.save(c, "state", "restart_count")
            return c
        if exit_info is None:
            # the shim was killed: nobody watches the container any more, so end it
            exit_info = {"exit_code": 137, "oom_killed": False, "finished_at": rfc3339(),
                         "restart_count": c.restart_count, "error": "the container's shim was killed"}
            self._kill_orphan(c)
        return self.finalize(c, exit_info)

    def _kill_orphan(self, c: Container) -> None:
        import subprocess
        runtime = c.host_config.get("Runtime") or "dockyard"
        if builtin(runtime):
            return  # _release deletes it in-process, by force, as finalize and remove go on to do
        subprocess.run([runtime_binary(runtime), "--root", str(self.runtime_root(runtime)), "delete", "-f", c.id],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finalize(self, c: Container, exit_info: dict, run_id: str | None = None) -> Container:
        """The container is done for good: record how it ended and release what it held.
        Safe to run twice (the shim's exit hook and a concurrent CLI may both get here);
        with `run_id`, only if the container has not been started again since, and not at all
        once it is removed (a list or an exit hook may get here while another client removes it)."""
        try:
            with self._lifecycle(c.id):
                return self._finalize(c, exit_info, run_id)
        except NotFound:
            return c

    def _finalize(self, c: Container, exit_info: dict, run_id: str | None) -> Container:
        with self.engine.db.write() as conn:
            row = conn.execute("SELECT state, run_id FROM containers WHERE id=?", (c.id,)).fetchone()
            if row is None or (run_id is not None and row[1] != run_id):
                return c
            current = json.loads(row[0])
            first = current.get("Status") in ("running", "paused", "restarting")
            if first:
                if "Health" in current:  # the monitor stopped: docker reports that as unhealthy
                    c.state["Health"] = {**health.live(current, self.shim_dir(c.id)), "Status": "unhealthy"}
                c.state.update(Status="exited", Running=False, Paused=False, Restarting=False,
                               ExitCode=int(exit_info.get("exit_code", 0)), OOMKilled=bool(exit_info.get("oom_killed")),
                               FinishedAt=exit_info.get("finished_at") or rfc3339(), Pid=0,
                               Error=exit_info.get("error", ""))
                c.restart_count = int(exit_info.get("restart_count", c.restart_count))
                # the networks as a stopped container shows them, with the exit: a reader that sees
                # it exited never sees its old addresses (the release below takes a while)
                c.network_settings.update(Ports={}, SandboxKey="",
                                          Networks=network_endpoints.stopped(c.network_settings.get("Networks") or {}))
                conn.execute("UPDATE containers SET state=?, restart_count=?, network_settings=? WHERE id=?",
                             (json.dumps(c.state), c.restart_count, json.dumps(c.network_settings), c.id))
            else:
                c.state = current
        if not first:
            return c  # whoever recorded the exit released the resources too
        self._release(c)
        if first:
            ran = max(0, int(epoch(c.state["FinishedAt"]) - epoch(c.state["StartedAt"])))
            self.event(c, "die", exitCode=str(c.state["ExitCode"]), execDuration=str(ran))
            self._network_events(c, "disconnect")
            self._mount_events(c, "unmount")
            if c.state["OOMKilled"]:
                self.event(c, "oom")
        return c

    def _release(self, c: Container) -> None:
        """Network, rootfs mount and runtime files of a container that no longer runs."""
        if builtin(c.host_config.get("Runtime") or "dockyard"):
            try:  # its shim left this to us (--keep-after-exit): in-process, no runtime command
                self._runtime(c).delete(c.id, force=True)
            except DockyardError:
                pass  # never created, or already deleted
        try:
            if self.engine.networks.attachment(c.id) is not None:
                self.engine.networks.detach(c.id)
        except DockyardError:
            pass
        from dockyard.snapshots.mount import unmount
        unmount(self.run_dir(c.id) / "rootfs")
        for m in c.mounts:  # the last user of a volume with options unmounts it
            if m.get("Type") == "volume" and m.get("Name"):
                self.engine.volumes.release(m["Name"], c.id)

    def cleanup(self, ref: str, run_id: str) -> None:
        """The shim's exit hook: record the exit, release resources, honour --rm. `run_id`
        names the run the hook belongs to: if the container was started again since, the
        hook is stale and must not touch the new run."""
        from dockyard.runtime.shim import protocol
        c = self.store.find(ref)
        if c is None or c.run_id != run_id:
            return
        info = protocol.read_exit(str(self.shim_dir(c.id)))
        if info is None:
            return
        c = self.finalize(c, info, run_id=run_id)
        if c.host_config.get("AutoRemove") and not foreground.owner_alive(self.run_dir(c.id)):
            self.remove(c.id, force=True, volumes=True)  # which also tries the cgroup parent
        else:
            # finalize deleted the container's cgroup just now; an `rm` that came earlier found
            # the parent still holding it, so try the parent again
            cgroups.remove_empty_parent(self._cgroup_parent(c))
