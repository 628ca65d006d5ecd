"""`run` and `create` once the request is made: create, start, attach, wait, --rm.

Free of click, so that `run`'s early path (runfast.py) and the click command (containers.py)
share it: what it prints goes through plain.say, which writes what click.echo would."""

from __future__ import annotations

import gc
import os

from dockyard.cli.plain import say


class HeldSignals:
    """SIGINT, SIGTERM and SIGHUP noted, not acted on, while this process creates and
    starts a container: that is work a daemon would finish whatever its client did, and
    cut short it would leave a container half made (rootfs mounted, never started).
    `release` puts the handlers back; the signals that came are then the caller's."""

    def __init__(self) -> None:
        import signal

        self.came: list[int] = []
        self._before = {s: signal.signal(s, lambda signum, _frame: self.came.append(signum))
                        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def release(self, forward=None) -> None:
        """Hand the signals to `forward` from now on, or else back to their handlers; then
        each signal that came goes to `forward`, or to this process again (so it acts as
        it would have)."""
        import signal

        for signum, handler in self._before.items():
            signal.signal(signum, forward or handler)
        for signum in self.came:
            if forward is not None:
                forward(signum, None)
            else:
                signal.raise_signal(signum)


def create(eng, body: dict, o: dict):
    """The container of `body` (named and with a --cidfile as `o` says), its warnings printed."""
    warnings: list[str] = []
    c = eng.containers.create(body, o["name"], warnings, o["platform"])
    for warning in warnings:
        say(f"WARNING: {warning}", err=True)
    if o["cidfile"]:
        from dockyard.errors import Conflict
        if os.path.exists(o["cidfile"]):
            raise Conflict(f"container ID file found, make sure the other container isn't running or delete {o['cidfile']}")
        with open(o["cidfile"], "w") as f:
            f.write(c.id)
    return c


def run(eng, body: dict, o: dict, *, detach: bool, rm: bool, sig_proxy: bool) -> int:
    """docker run once the image is here: its exit code (0 for a detached start, which
    prints the container's ID)."""
    held = HeldSignals()
    if not detach:
        return _run_attached(eng, body, o, held, rm=rm, sig_proxy=sig_proxy)
    try:
        c = create(eng, body, o)
        try:
            eng.containers.start(c.id)
        except BaseException:
            if rm:
                eng.containers.remove(c.id, force=True, volumes=True)
            raise
        say(c.id)
    finally:
        held.release()
    return 0


def _run_attached(eng, body: dict, o: dict, held: HeldSignals, *, rm: bool, sig_proxy: bool) -> int:
    """Create and start with our terminal attached, wait for the exit, and return docker
    run's exit code. Signals that come while the container is made go to it once it runs
    (with the proxy), or act on this process then."""
    import signal

    from dockyard.cli.attach import Detached, pump
    from dockyard.errors import DockyardError

    try:
        c = create(eng, body, o)
    except BaseException:
        held.release()
        raise
    foreground = eng.containers.hold_foreground(c.id)  # noqa: F841 (held until this process ends)
    tty, stdin = c.config["Tty"], c.config["OpenStdin"]
    try:
        sock = eng.containers.start(c.id, attach=True)
    except DockyardError as e:
        code = c.state.get("ExitCode") or _start_failure_code(e)
        if rm:
            eng.containers.remove(c.id, force=True, volumes=True)
        say(f"Error: {e.message}", err=True)
        held.release()
        return code
    except BaseException:
        held.release()
        raise

    def forward(signum, _frame):
        try:
            eng.containers.kill(c.id, signal.Signals(signum).name)
        except DockyardError:
            pass
    held.release(forward if sig_proxy and not tty else None)
    gc.freeze()  # what the start made lives until the exit: later collections pass it by
    gc.enable()  # the early path starts with collection off (entry.py): a foreground run may last
    try:
        pump(sock, tty=tty, stdin=stdin, on_resize=lambda h, w: resize(eng, c.id, h, w))
    except Detached:
        say("\r\nread escape sequence", err=True)
        return 0
    finally:
        sock.close()
    code = eng.containers.wait(c.id)
    if rm:
        eng.containers.remove(c.id, force=True, volumes=True)
    return code


def resize(eng, cid: str, h: int, w: int) -> None:
    """The container's TTY to h × w, if it still runs."""
    from dockyard.errors import DockyardError
    try:
        eng.containers.resize(cid, h, w)
    except DockyardError:
        pass


def _start_failure_code(e) -> int:
    from dockyard.containers.start import exit_code_for
    return exit_code_for(e)
