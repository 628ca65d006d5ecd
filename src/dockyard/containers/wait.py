"""`wait`: until the container is not running, exits next, or is removed."""

from __future__ import annotations

import time

from dockyard.containers.record import Container
from dockyard.containers.views import epoch
from dockyard.errors import DockyardError, InvalidArgument


class Wait:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def wait(self, ref: str, condition: str = "not-running", timeout: float | None = None) -> int:
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}: use not-running, next-exit or removed")
        c = self.get(ref)
        since = time.time()
        exits = _exits(c)
        deadline = None if timeout is None else time.monotonic() + timeout
        watch = self.watch()  # woken by the shim's records, its exit, or the container's removal
        try:
            while True:
                watch.follow(self.dir(c.id), shim=False)
                watch.follow(self.shim_dir(c.id))
                found = self.store.find(c.id)
                if found is None:
                    # removed: its exit code is in the die event
                    dies = [e for e in self.engine.events.read(after_seq=0)
                            if e["Actor"]["ID"] == c.id and e["Action"] == "die"]
                    return int(dies[-1]["Actor"]["Attributes"].get("exitCode", 0)) if dies else c.state["ExitCode"]
                c = self.refresh(found)
                if not c.running and condition != "removed":
                    ended_now = epoch(c.state["FinishedAt"]) >= since - 0.001
                    if condition == "not-running" or ended_now:
                        return c.state["ExitCode"]
                elif condition != "removed" and _exits(c) > exits:  # the restart policy runs it again:
                    if c.status == "restarting":                    # Docker's waiters return at that exit
                        return c.state["ExitCode"]
                    from dockyard.runtime.shim import protocol
                    return int((protocol.read_started(str(self.shim_dir(c.id))) or {}).get("last_exit_code", 0))
                if deadline is not None and time.monotonic() > deadline:
                    raise DockyardError(f"timed out waiting for container {c.short_id}")
                # a second at most: a change only the DB shows (another process's restart) is seen too
                watch.wait(1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic())))
        finally:
            watch.close()


def _exits(c: Container) -> int:
    """How many times the current run of a running container has ended (it may be restarting)."""
    return c.restart_count + (c.status == "restarting")
