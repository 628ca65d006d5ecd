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
            if exit_info and exit_info.get("final"):  # done for good: the shim's end and hook need not be awaited
                return self.finalize(c, exit_info, run_id=c.run_id)
            c = self._follow_restarts(c, exit_info, protocol.read_started(sd) or {})
            if "Health" in c.state:
                c.state["Health"] = health.live(c.state, Path(sd))
            return c
        if exit_info is None:
            # the shim was killed: nobody watches the container any more, so end it
            exit_info = {"exit_code": 137, "oom_killed": False, "finished_at": rfc3339(),
                         "restart_count": c.restart_count, "error": "the container's shim was killed"}
            self._kill_orphan(c)
        return self.finalize(c, exit_info)

    def _follow_restarts(self, c: Container, exit_info: dict | None, started: dict) -> Container:
        """What the restart policy did since the record last looked, logged as dockerd logs it
        (policy_steps); decided from the record's own row in one transaction, so each event is
        logged once whoever looks."""
        if _phase(c.status, c.restart_count) == _shim_phase(started, exit_info):
            return c  # nothing new
        with self.engine.db.write() as conn:
            row = conn.execute("SELECT state, restart_count, run_id FROM containers WHERE id=?", (c.id,)).fetchone()
            if row is None or row[2] != c.run_id:
                return c
            c.state, c.restart_count = json.loads(row[0]), row[1]
            if c.status not in ("running", "paused", "restarting"):
                return c
            logged = policy_steps(c, started, exit_info)
            if logged:
                conn.execute("UPDATE containers SET state=?, restart_count=? WHERE id=?",
                             (json.dumps(c.state), c.restart_count, c.id))
                _append_events(conn, c, logged)
        return c

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
            row = conn.execute("SELECT state, run_id, restart_count FROM containers WHERE id=?", (c.id,)).fetchone()
            if row is None or (run_id is not None and row[1] != run_id):
                return c
            current = json.loads(row[0])
            first = current.get("Status") in ("running", "paused", "restarting")
            if first:
                # the runs the policy started that the record has not seen yet: their die and start
                from dockyard.runtime.shim.records import read_started
                c.state, c.restart_count = current, row[2]
                _append_events(conn, c, policy_steps(c, read_started(str(self.shim_dir(c.id))) or {}, None))
                # stopped while restarting: that run's `die` is logged and the restart counted, as dockerd
                died = c.status == "restarting"
                if "Health" in current:  # the monitor stopped: docker reports that as unhealthy
                    c.state["Health"] = {**health.live(current, self.shim_dir(c.id)), "Status": "unhealthy"}
                c.state.update(Status="exited", Running=False, Paused=False, Restarting=False,
                               ExitCode=int(exit_info.get("exit_code", 0)), OOMKilled=bool(exit_info.get("oom_killed")),
                               FinishedAt=exit_info.get("finished_at") or rfc3339(), Pid=0,
                               Error=exit_info.get("error", ""))
                if not died:
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
            if not died:
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
        if c.host_config.get("IpcMode") == "shareable":  # its /dev/shm (joiners keep theirs till they end)
            unmount(self.run_dir(c.id) / "shm")
        for m in c.mounts:  # the last user of a volume with options unmounts it
            if m.get("Type") == "volume" and m.get("Name"):
                self.engine.volumes.release(m["Name"], c.id)

    def cleanup(self, ref: str, run_id: str, restart: str | None = None) -> None:
        """The shim's exit hook: record the exit, release resources, honour --rm. `run_id`
        names the run the hook belongs to: if the container was started again since, the
        hook is stale and must not touch the new run. With `restart` ("restart"), the restart
        policy ended a run or started the next: the refresh logs it."""
        from dockyard.runtime.shim import protocol
        c = self.store.find(ref)
        if c is None or c.run_id != run_id:
            return
        if restart:
            self.refresh(c)
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


def _phase(status: str, restart_count: int) -> int:
    """Where a container is in its restart policy's runs, as one number: 2k while run k runs,
    2k+1 while it restarts after run k (dockerd counts that restart at once: RestartCount k+1)."""
    return 2 * restart_count - 1 if status == "restarting" else 2 * restart_count


def _shim_phase(started: dict, exit_info: dict | None) -> int:
    run = started.get("restart_count", 0)
    ended = exit_info is not None and not exit_info.get("final") and exit_info.get("restart_count") == run
    return 2 * run + 1 if ended else 2 * run


def policy_steps(c: Container, started: dict, exit_info: dict | None) -> list[tuple[str, dict]]:
    """Bring `c`'s state and restart count to where its shim's records (started.json and a
    restart's exit.json) are, as dockerd shows a restart: `die` when a run ends, the container
    `restarting` (Running, no Pid, the exit code, RestartCount already counting the restart),
    then `start` and running again with exit code 0. Returns the events to log, in order: a
    die and a start for each run nobody saw end (their codes are unknown but the last)."""
    run = started.get("restart_count", 0)
    here, there = _phase(c.status, c.restart_count), _shim_phase(started, exit_info)
    logged: list[tuple[str, dict]] = []
    for step in range(here + 1, there + 1):
        if step % 2 == 0:
            logged.append(("start", {}))
        elif exit_info is not None and step == there:
            ran = max(0, int(epoch(exit_info.get("finished_at") or rfc3339()) - epoch(started.get("started_at") or "")))
            logged.append(("die", {"exitCode": str(exit_info["exit_code"]), "execDuration": str(ran)}))
        else:
            logged.append(("die", {"exitCode": str(started.get("last_exit_code", 0))}))
    if not logged:
        return logged
    if there % 2:
        c.restart_count = run + 1
        c.state.update(Status="restarting", Restarting=True, Running=True, Paused=False, Pid=0,
                       ExitCode=exit_info["exit_code"], FinishedAt=exit_info.get("finished_at") or rfc3339())
    else:
        c.restart_count = run
        c.state.update(Status="running", Restarting=False, Running=True, Pid=started.get("pid", 0),
                       StartedAt=started.get("started_at") or c.state["StartedAt"], ExitCode=0)
    return logged


def _append_events(conn, c: Container, logged: list[tuple[str, dict]]) -> None:
    from dockyard.containers.views import event_attributes
    from dockyard.store.events import append
    for action, extra in logged:
        append(conn, "container", action, c.id, event_attributes(c, **extra))
