"""`stop`, `kill` and `restart`: signals through the shim, and the wait for the exit it records."""

from __future__ import annotations

import signal as _signal
import time

from dockyard.containers.record import Container
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound

STOP_TIMEOUT = 10


class Stop:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def _signal(self, c: Container, sig: str) -> None:
        from dockyard.runtime.shim import protocol
        sd = str(self.shim_dir(c.id))
        protocol.control(sd, "stop")
        protocol.kill(sd, sig)

    def stop(self, ref: str, timeout: int | None = None) -> Container:
        c = self.get(ref)
        if not c.running:
            return c
        if c.status == "paused":
            self.unpause(c.id)
        if timeout is None:
            timeout = c.config.get("StopTimeout", STOP_TIMEOUT)
        sig = c.config.get("StopSignal") or "SIGTERM"
        try:
            self._signal(c, sig)
            self.event(c, "kill", signal=_number(sig))  # as dockerd's stop: a kill event per signal sent
        except DockyardError:
            pass
        if not self._wait_done(c, timeout):
            self._kill_now(c)
        c = self.get(c.id)
        # as dockerd's stop, answer once the container's resources are released: an exit hook
        # recording the exit holds the lifecycle lock until it has (volumes unmounted included)
        with self._lifecycle(c.id, missing_ok=True):
            pass
        self.event(c, "stop")
        return c

    def _kill_now(self, c: Container) -> None:
        """SIGKILL (a shim already gone cannot pass it on), then the wait for the exit it records."""
        try:
            self._signal(c, "SIGKILL")
            self.event(c, "kill", signal="9")
        except DockyardError:
            pass
        self._wait_done(c, 10)

    def _wait_done(self, c: Container, timeout: float) -> bool:
        """Wait until the shim has recorded the exit (and gone); True if it happened in time."""
        from dockyard.runtime.shim import protocol
        sd = str(self.shim_dir(c.id))
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            if protocol.read_exit(sd) is not None or not protocol.shim_alive(sd):
                while protocol.shim_alive(sd) and time.monotonic() < deadline + 5:
                    time.sleep(0.01)
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def kill(self, ref: str, signal: str = "KILL") -> Container:
        sig = signal if str(signal).isdigit() or str(signal).startswith("SIG") else "SIG" + str(signal).upper()
        if (str(sig).isdigit() and int(sig) == 0) or (not str(sig).isdigit() and sig not in _signal.Signals.__members__):
            raise InvalidArgument(f"Invalid signal: {signal}")  # before the container, as dockerd checks
        try:
            c = self.get(ref)
        except NotFound as e:  # dockerd names the kill in every failure
            raise NotFound(f"Cannot kill container: {ref}: {e.message}") from None
        if not c.running:
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        self._signal(c, sig)
        self.event(c, "kill", signal=_number(sig))  # before the die it may bring, as dockerd's
        if sig in ("SIGKILL", "9"):
            self._wait_done(c, 10)
        return self.get(c.id)

    def restart(self, ref: str, timeout: int | None = None) -> Container:
        self.stop(ref, timeout)
        self.start(ref)
        c = self.get(ref)
        self.event(c, "restart")
        return c


def _number(sig: str) -> str:
    """A signal's number as the kill event shows it ("15" for SIGTERM or TERM)."""
    sig = str(sig)
    if sig.isdigit():
        return sig
    try:
        return str(_signal.Signals[sig if sig.startswith("SIG") else "SIG" + sig.upper()].value)
    except KeyError:  # SIGRTMIN+n and the like: the name as given
        return sig
