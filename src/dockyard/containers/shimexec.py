"""An exec's command started by `dockyard-shim exec` (runtime/shim/exec.c, probe.c) instead of
a runtime process: it joins the container's namespaces and cgroups and runs the command with
the container's exec profile (containers/execprofile.py) and the command's own args, env,
user and working dir, with the caller's stdio or, for a Tty exec, a pty of the container's
own whose master comes back over a socket.

Every exec is run so: the CLI's quick path (cli/execquick.py, before click loads) and Execs
(containers/execs.py: the full command, the Engine API, CRI), for any runtime's container,
whose init is the pid its shim started. Light: no service, no pathlib.
"""

from __future__ import annotations

import os
import sys


def shim_binary() -> str | None:
    """The `dockyard-shim` beside this interpreter, if there is one to run."""
    path = os.path.join(os.path.dirname(sys.executable), "dockyard-shim")
    return path if os.access(path, os.X_OK) else None


def shim_child(state: str) -> int | None:
    """The running container's init as its shim (state dir `state`) started it, whatever the
    runtime: started.json's pid while no exit is recorded and that process is the shim's
    child (it outlives a runtime's own process, and a created container's init waits for its
    start before the shim records it)."""
    from dockyard.runtime.shim.records import read_exit, read_started

    started = read_started(state)
    pid = (started or {}).get("pid") or 0
    if pid <= 0 or read_exit(state) is not None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            parent = int(f.read().rsplit(b")", 1)[1].split()[1])
        with open(os.path.join(state, "shim.pid"), "rb") as f:
            shim = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if parent == shim else None


def command(shim: str, run_dir: str, cid: str, target: int, process: dict) -> list[str]:
    """`dockyard-shim exec`'s argv for the OCI `process` (containers/process.py's) in the container
    `cid` whose init is `target`: its profile's lines, then the command's (a privileged exec's
    capabilities replace the container's)."""
    from dockyard.containers.execprofile import profile
    from dockyard.runtime.shim import entering

    lines = entering.command_lines(process)
    if "capabilities" in process:
        lines += entering.capability_lines(process["capabilities"])
    return [shim, "exec", str(target), profile(run_dir, cid), *(f"{k} {v}" for k, v in lines)]


def detach(argv: list[str], hook_socket: str, hook: list[str], tty: bool) -> int:
    """Start the command with no stdio (or a terminal whose output goes nowhere) and leave it
    running: its pid. When it ends, `hook` runs with its exit code as a last word (through the
    server on `hook_socket` if it takes it). InvalidArgument with Docker's words if it could
    not start."""
    from dockyard.errors import InvalidArgument

    out, write_end = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    options = ["--detach", *(["--tty"] if tty else []), "--hook-socket", hook_socket,
               *(x for word in hook for x in ("--on-exit-arg", word))]
    try:
        run = Started(argv, (null, write_end, null), options=options)
    finally:
        os.close(null)
        os.close(write_end)
    code, failure = run.wait()
    with os.fdopen(out, "rb") as f:
        pid = f.read().strip()
    if failure or code or not pid.isdigit():
        raise InvalidArgument(failure or f"dockyard-shim exec failed ({code})")
    return int(pid)


class Started:
    """A running `dockyard-shim exec` (with `options` before the pid): `command_pid()` (with
    `pid`) is the command's pid, `wait()` its exit code and why it could not start ("" if it
    did)."""

    def __init__(self, argv: list[str], stdio: tuple[int, int, int], tty: bool = False, pid: bool = False,
                 options: list[str] = ()) -> None:
        report, write_end = os.pipe()
        actions = [(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate(stdio)] + [(os.POSIX_SPAWN_DUP2, write_end, 3)]
        theirs = [write_end]
        self._console = self._pid = None
        if tty:
            import socket

            self._console, console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            theirs.append(console.detach())
            actions.append((os.POSIX_SPAWN_DUP2, theirs[-1], 4))
            options = [*options, "--console-fd", "4"]
        if pid:
            self._pid, pid_end = os.pipe()
            theirs.append(pid_end)
            actions.append((os.POSIX_SPAWN_DUP2, pid_end, 5))
            options = [*options, "--pid-fd", "5"]
        argv = [*argv[:2], *options, *argv[2:]]
        try:
            self.pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        except BaseException:
            os.close(report)
            if self._console is not None:
                self._console.close()
            if self._pid is not None:
                os.close(self._pid)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self._report = report

    def command_pid(self) -> int:
        """The command's pid (in our pid namespace), 0 if it was not forked."""
        with os.fdopen(self._pid, "rb") as f:
            text = f.read()
        return int(text) if text.isdigit() else 0

    def wait(self, on_pty=None) -> tuple[int, str]:
        """Wait for the command. With a TTY, `on_pty(master)` carries its terminal in a thread
        meanwhile (given up to 5 s more after the end, for what it read last)."""
        carrier = master = None
        if self._console is not None:
            import socket
            import threading

            with self._console:
                try:
                    _, fds, _, _ = socket.recv_fds(self._console, 256, 1)
                except OSError:
                    fds = []
            master = fds[0] if fds else None  # None: the command could not start
            if master is not None and on_pty is not None:
                carrier = threading.Thread(target=on_pty, args=(master,), daemon=True)
                carrier.start()
        try:
            _, status = os.waitpid(self.pid, 0)
        finally:
            if carrier is not None:
                carrier.join(timeout=5)
            if master is not None:
                os.close(master)
        code = os.waitstatus_to_exitcode(status)
        with os.fdopen(self._report, "rb") as f:
            failure = f.read().decode(errors="replace").strip()
        return (128 - code if code < 0 else code), failure
