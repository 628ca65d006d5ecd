"""`wait`: until the container is not running, exits next, or is removed.

As dockerd's, it answers once the exit is recorded for good: the `die` event is written (and,
for `removed`, the `destroy` event). An exit the shim has recorded as final but nobody has
recorded yet (the exit hook is still to come) is recorded by the refresh, as the hook would;
an exit or a removal another process is recording holds the container's lifecycle lock until
its event is written, so the answer waits for that lock.
"""

from __future__ import annotations

import os
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
        lock = self._lock_file(c.id)  # opened now: a removal takes the file away
        try:
            if condition == "not-running" and not c.running:
                # as the loop below would, without a watch: closing one waits ~15 ms in the kernel
                if c.run_id:
                    _settled(lock)
                return c.state["ExitCode"]
            return self._watched(c, condition, timeout, lock)
        finally:
            if lock is not None:
                os.close(lock)

    def _watched(self, c: Container, condition: str, timeout: float | None, lock: int | None) -> int:
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
                    _settled(lock)
                    # removed: its exit code is in the die event
                    dies = [e for e in self.engine.events.read(after_seq=0)
                            if e["Actor"]["ID"] == c.id and e["Action"] == "die"]
                    return int(dies[-1]["Actor"]["Attributes"].get("exitCode", 0)) if dies else c.state["ExitCode"]
                c = self.refresh(found)
                if not c.running and condition != "removed":
                    ended_now = epoch(c.state["FinishedAt"]) >= since - 0.001
                    if condition == "not-running" or ended_now:
                        if c.run_id:
                            _settled(lock)
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

    def _lock_file(self, cid: str) -> int | None:
        """The container's lifecycle lock file, None where it has none (made before they had one)."""
        try:
            return self.lifecycle_file(cid)
        except FileNotFoundError:
            return None


def _settled(lock: int | None) -> None:
    """Wait until no process records an exit or a removal of the container (each holds its
    lifecycle lock until its event is written)."""
    if lock is None:
        return
    import fcntl
    fcntl.flock(lock, fcntl.LOCK_SH)  # shared: waiters do not hold each other up
    fcntl.flock(lock, fcntl.LOCK_UN)


def _exits(c: Container) -> int:
    """How many times the current run of a running container has ended (it may be restarting:
    its restart count already counts that restart, as dockerd's does)."""
    return c.restart_count
