"""The fork server of `dockyard serve`: a small single-threaded process, with the runtime's
modules imported once, that forks the adopting grandchild of `adopt.spawn` for each container
the threaded server starts.

Without it the server (many threads: it may not fork) would start every container through
`dockyard-runtime create` and `start`, two fresh interpreters per start (~0.1 s of CPU).
The fork server is its own interpreter, started with `-m`, so it holds none of the server's
state (threads, locks, the database): nothing unsafe to fork. The server sends a start as one
datagram (the shim's arguments and the runtime's root) on a SOCK_SEQPACKET pair and gets back
the read end of the report pipe (SCM_RIGHTS), or "!" and an error; waiting for the report and
attaching stay in the server's calling thread, so starts do not queue behind each other.
The fork server ends when its socket closes (the server ended, however), and is started again
when it is found gone.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from typing import TYPE_CHECKING

from dockyard.errors import DockyardError
from dockyard.plainclass import fields
from dockyard.runtime.shim.protocol import ShimArgs

if TYPE_CHECKING:
    import subprocess

_MAX_REQUEST = 1 << 20
_current: "ForkServer | None" = None


def current() -> "ForkServer | None":
    """The fork server of this process, if it runs one (`start`)."""
    return _current


def start() -> "ForkServer":
    """Run a fork server for this process's container starts (`adopt.start_adopted`)."""
    global _current
    if _current is None:
        _current = ForkServer()
        _current.ensure()
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.close()
        _current = None


class ForkServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen | None = None

    def ensure(self) -> None:
        """Start the process unless it runs."""
        import subprocess
        if self._proc is not None and self._proc.poll() is None:
            return
        self.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())], pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True, cwd="/")
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours

    def close(self) -> None:
        import subprocess
        if self._sock is not None:
            self._sock.close()  # the process sees the end and exits
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def spawn(self, args: ShimArgs, runtime_root: str, shim_argv: list[str]) -> int:
        """`adopt.spawn` in the fork server; returns the report pipe's read end."""
        request = json.dumps({"args": fields(args), "runtime_root": runtime_root,
                              "argv": shim_argv}).encode()
        with self._lock:
            for _ in range(2):
                self.ensure()
                try:
                    self._sock.send(request)
                except OSError:  # gone since: nothing was asked yet, so ask a new one
                    self.close()
                    continue
                try:
                    reply, fds, _, _ = socket.recv_fds(self._sock, 4096, 1)
                except OSError:
                    reply, fds = b"", []
                if fds:
                    return fds[0]
                if reply.startswith(b"!"):
                    raise DockyardError(reply[1:].decode(errors="replace"))
                self.close()
                raise DockyardError("the fork server ended during the container's start")
        raise DockyardError("the fork server could not be started")


def serve(sock: socket.socket) -> None:
    """The fork server's loop, until its socket ends."""
    from dockyard.runtime import linux
    from dockyard.runtime.builtin import BuiltinRuntime
    from dockyard.runtime.shim import adopt
    for module in ("init", "rootfs", "seccomp", "hooks"):  # what the container's side imports
        __import__(f"dockyard.runtime.{module}")
    while True:
        try:
            data = sock.recv(_MAX_REQUEST)
        except InterruptedError:
            continue
        if not data:
            return
        try:
            request = json.loads(data)
            ready_r = adopt.spawn(ShimArgs(**request["args"]), BuiltinRuntime(request["runtime_root"]),
                                  request["argv"])
        except BaseException as e:  # noqa: BLE001 - told to the server, the loop goes on
            sock.send(b"!" + linux.describe(e).encode())
            continue
        try:
            socket.send_fds(sock, [b"ok"], [ready_r])
        finally:
            os.close(ready_r)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
