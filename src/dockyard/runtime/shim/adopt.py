"""Starting a container with dockyard's own runtime from the calling process and handing it
to its shim (`dockyard-shim --adopt`), instead of the shim running `dockyard-runtime`.

The runtime as a command costs a Python interpreter's start-up and imports (~45 ms) on every
container start, and the engine has both loaded already. So the caller forks twice (the shim
must not be its child: it outlives the command); the grandchild becomes a child subreaper,
creates and starts the container (its init, orphaned by the runtime's stage 1, becomes the
grandchild's child) and then execs the shim, which keeps that init and its stdio as if it
had started them itself. Restarts by policy still go through `dockyard-runtime`.

Only a single-threaded process may fork (a fork copies locks that other threads hold): the
threaded API server has its fork server (`forkserver.py`) fork for it. See `usable()`.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time

from dockyard.errors import DockyardError
from dockyard.runtime import cgroups, linux
from dockyard.runtime.builtin import BuiltinRuntime
from dockyard.runtime.shim.protocol import ShimArgs, attach

PR_SET_CHILD_SUBREAPER = 36
_ATTACH_TIMEOUT = 10
EXECING = b"+"  # on the report pipe: the grandchild execs the shim now


def usable() -> bool:
    """Whether this process may start a container this way: it has no other thread (a
    fork would copy locks they hold), or a fork server forks for it."""
    from dockyard.runtime.shim import forkserver
    return threading.active_count() == 1 or forkserver.current() is not None


def start_adopted(args: ShimArgs, runtime: BuiltinRuntime) -> tuple[int, socket.socket | None]:
    """Create and start the container, hand it to a new shim; returns its pid and, with
    `args.wait_attach`, the attach socket (connected before the shim reads any output)."""
    from dockyard.runtime.shim import forkserver
    shim_argv = args.argv()  # resolved here, so a missing binary is the caller's plain error
    server = forkserver.current() if threading.active_count() > 1 else None
    ready_r = server.spawn(args, runtime.root, shim_argv) if server else spawn(args, runtime, shim_argv)
    return _await_report(args, ready_r)


def spawn(args: ShimArgs, runtime: BuiltinRuntime, shim_argv: list[str]) -> int:
    """Fork the daemonized grandchild that starts the container and becomes its shim;
    returns the read end of the pipe its report comes on."""
    ready_r, ready_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the children would write our buffered output again
    middle = os.fork()
    if middle == 0:
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() == 0:
                _become_shim(args, runtime, shim_argv, ready_w)
        finally:
            os._exit(0)
    os.close(ready_w)
    cgroups.start_migration_grace()  # while the grandchild forks and creates the container's group
    os.waitpid(middle, 0)
    return ready_r


def _await_report(args: ShimArgs, ready_r: int) -> tuple[int, socket.socket | None]:
    """The grandchild writes "+" as it execs the shim, which listens for the attach at once;
    then the shim writes the container's pid, or "!" and an error (so may the grandchild
    before). Until the "+", this process waits without polling the shim's socket."""
    with os.fdopen(ready_r, "rb", buffering=0) as report:
        first = report.read(1)
        sock = None
        if first == EXECING:
            first = b""
            if args.wait_attach:
                sock = _attach_before_report(args.state_dir, report)
        text = (first + report.readall()).decode(errors="replace")
    if text and not text.startswith("!"):
        if args.wait_attach and sock is None:
            raise DockyardError("could not attach to the container's shim")
        return int(text), sock
    if sock is not None:
        sock.close()
    raise DockyardError(text[1:].strip() or "dockyard-shim: exited before the container started")


def _attach_before_report(state_dir: str, report) -> socket.socket | None:
    """Connect to attach.sock as soon as the shim, just exec'd, listens; None when the report
    (an error) comes first."""
    deadline = time.monotonic() + _ATTACH_TIMEOUT
    while time.monotonic() < deadline:
        try:
            return attach(state_dir)
        except DockyardError:
            pass  # not listening yet
        if select.select([report], [], [], 0.0005)[0]:
            return None
    return None


def _become_shim(args: ShimArgs, runtime: BuiltinRuntime, shim_argv: list[str], ready_w: int) -> None:
    """In the daemonized grandchild: create and start the container, exec the shim. Never
    returns; a failure is reported as "!message" on `ready_w`."""
    created = False
    try:
        os.dup2(ready_w, 3)
        ready_w = 3
        os.closerange(4, 1 << 20)  # the caller's files (DB, lock files) must not stay open here
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        linux.Syscalls().prctl(PR_SET_CHILD_SUBREAPER, 1)
        if args.tty:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pid = runtime.create(args.container_id, args.bundle, console_socket=theirs)
            created = True
            theirs.close()
            master = socket.recv_fds(ours, 1024, 1)[1][0]
            fds = (master if args.stdin else -1, master, -1)
        else:
            stdin_r, stdin_w = os.pipe() if args.stdin else (null, -1)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            pid = runtime.create(args.container_id, args.bundle, stdin=stdin_r, stdout=out_w, stderr=err_w)
            created = True
            for fd in {stdin_r, out_w, err_w} - {null}:
                os.close(fd)
            fds = (stdin_w, out_r, err_r)
        runtime.start(args.container_id)
        for fd in (ready_w, *fds):
            if fd >= 0:
                os.set_inheritable(fd, True)
        os.write(ready_w, EXECING)
        os.execv(shim_argv[0], [*shim_argv, "--adopt", str(pid), "--adopt-fds", ",".join(map(str, fds)),
                                "--ready-fd", str(ready_w)])
    except BaseException as err:
        os.write(ready_w, f"!{linux.describe(err)}".encode())
        if created:
            try:
                runtime.delete(args.container_id, force=True)
            except BaseException:
                pass  # the engine's release deletes it again
    finally:
        os._exit(1)
