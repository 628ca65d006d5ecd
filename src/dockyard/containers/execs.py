"""`exec`: extra processes in a running container, with docker's exec create/start/inspect model.

Exec records live in the DB so that an exec created through one API request can be started
and inspected through the next, by whichever process serves it.
"""

from __future__ import annotations

import os

from dockyard.containers import detachkeys
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.jsonread import loads
from dockyard.jsonwrite import dumps

MIGRATIONS = [
    """
    CREATE TABLE execs (
        id TEXT PRIMARY KEY,
        container_id TEXT NOT NULL,
        config TEXT NOT NULL,          -- docker ExecConfig: Cmd, Env, WorkingDir, User, Tty, Privileged, ...
        running INTEGER NOT NULL DEFAULT 0,
        exit_code INTEGER,
        pid INTEGER NOT NULL DEFAULT 0
    );
    """,
]


class Execs:
    def __init__(self, service) -> None:
        self.service = service
        self.db = service.engine.db
        self.db.migrate("execs", MIGRATIONS)
        self._ptys: dict[str, int] = {}  # pty masters of running TTY execs held by this process

    def resize(self, eid: str, h: int, w: int) -> None:
        import fcntl
        import struct
        import termios
        self._row(eid)
        fd = self._ptys.get(eid)
        if fd is None:
            raise Conflict(f"exec {eid[:12]} has no terminal in this process to resize")
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))

    def create(self, ref: str, body: dict) -> str:
        c = self.service.get(ref)
        _check_running(c, ref)
        cmd = body.get("Cmd")
        if not cmd:
            raise InvalidArgument("No exec command specified")
        if body.get("DetachKeys"):
            detachkeys.parse(body["DetachKeys"], "escape")
        eid = os.urandom(32).hex()
        self._record(c, "INSERT INTO execs(id, container_id, config) VALUES (?,?,?)", (eid, c.id, dumps(body)),
                     event_action("exec_create", cmd), execID=eid)
        return eid

    def _record(self, c, sql: str, params: tuple, action: str = "", **attributes: str) -> None:
        """One write transaction: the exec's row, with the container's event `action` if given."""
        from dockyard.containers.views import event_attributes
        from dockyard.store.events import append

        with self.db.write() as conn:
            conn.execute(sql, params)
            if action:
                append(conn, "container", action, c.id, event_attributes(c, **attributes))

    def _row(self, eid: str):
        row = self.db.one("SELECT * FROM execs WHERE id=?", (eid,))
        if row is None:
            raise NotFound(f"No such exec instance: {eid}")
        return row

    def startable(self, eid: str):
        """(row, container) of an exec whose container can run it now: NotFound, or Conflict
        when the container is paused or not running (what dockerd answers before it attaches)."""
        row = self._row(eid)
        c = self.service.get(row["container_id"])
        _check_running(c, c.id)
        return row, c

    def inspect(self, eid: str) -> dict:
        row = self._row(eid)
        cfg = loads(row["config"])
        process = {"tty": bool(cfg.get("Tty")), "entrypoint": cfg["Cmd"][0], "arguments": cfg["Cmd"][1:],
                   "privileged": bool(cfg.get("Privileged"))}
        if cfg.get("User"):  # omitted when empty, as dockerd does
            process["user"] = cfg["User"]
        return {
            "ID": eid, "Running": bool(row["running"]), "ExitCode": row["exit_code"], "ProcessConfig": process,
            "OpenStdin": bool(cfg.get("AttachStdin")), "OpenStderr": bool(cfg.get("AttachStderr", True)),
            "OpenStdout": bool(cfg.get("AttachStdout", True)), "CanRemove": False,
            "ContainerID": row["container_id"], "DetachKeys": detachkeys.shown(cfg.get("DetachKeys")), "Pid": row["pid"],
        }

    def start(self, eid: str, *, detach: bool = False, stdin=None, stdout=None, stderr=None,
              on_pty=None, console_size=None) -> int:
        """Run the exec; returns its exit code (or its pid when detached). With a TTY,
        `on_pty(master_fd)` is called in a thread to carry the terminal while it runs; its size
        is `console_size` ([height, width]) if given, else the exec's ConsoleSize."""
        row, c = self.startable(eid)
        if row["exit_code"] is not None:  # dockerd's words
            raise Conflict(f"Error: Exec command {eid} has already run")
        if row["running"]:
            raise Conflict(f"Error: Exec command {eid} is already running")
        shim = self._shim(c)
        if shim is None:  # its init has just ended (the shim's records lag it)
            raise Conflict(f"Container {c.id} is not running")
        cfg = loads(row["config"])
        self._record(c, "UPDATE execs SET running=1 WHERE id=?", (eid,), event_action("exec_start", cfg["Cmd"]),
                     execID=eid)
        code, started = -1, False
        try:
            from dockyard.containers.process import exec_process
            if console_size:
                cfg["ConsoleSize"] = console_size
            process = exec_process(self.service, c, cfg)  # an unknown user fails here, as in Docker
            code = self._with_shim(shim, c, eid, process, detach, (stdin, stdout, stderr), on_pty)
            started = True
        except DockyardError as e:  # the command could not start: Docker's codes and words
            message = e.message if e.message.startswith("unable to find ") else start_failure(e.message)
            code = start_failure_code(message)
            raise InvalidArgument(message) from None
        finally:
            if detach and started:  # running from before the start: its end may be recorded by now
                self._record(c, "UPDATE execs SET pid=? WHERE id=?", (code, eid))
            else:  # as dockerd: no exec_die for a command that never ran
                self._record(c, "UPDATE execs SET running=0, exit_code=? WHERE id=?", (code, eid),
                             "exec_die" if started else "", execID=eid, exitCode=str(code))
        return code

    def died(self, eid: str, code: int) -> None:
        """(The hook of a detached exec's `dockyard-shim exec`) its command ended with `code`."""
        c = self.service.store.find(self._row(eid)["container_id"])
        with self.db.write() as conn:
            record_died(conn, c, eid, code)

    def _shim(self, c) -> tuple[str, int] | None:
        """(`dockyard-shim`, the container's init pid: the one its shim started): `dockyard-shim
        exec` runs every exec (containers/shimexec.py), of any runtime's container, as its
        health probes; None if the init is not found running."""
        from dockyard.containers import shimexec

        shim = shimexec.shim_binary()
        if shim is None:
            raise DockyardError("dockyard-shim is not installed beside dockyard")
        target = shimexec.shim_child(str(self.service.shim_dir(c.id)))
        return None if target is None else (shim, target)

    def _with_shim(self, shim: tuple[str, int], c, eid: str, process: dict, detach: bool, stdio: tuple,
                   on_pty) -> int:
        """Run `process` through `dockyard-shim exec`: detached (its pid; its end is recorded by
        the exec-died hook), or attached with `stdio` (None: ours; Popen's DEVNULL; a file or an
        fd) or a TTY, whose master `on_pty` carries in a thread while it runs (its exit code).
        InvalidArgument with Docker's words if it could not start."""
        import subprocess

        from dockyard.containers import shimexec

        argv = shimexec.command(shim[0], str(self.service.engine.run_dir), c.id, shim[1], process)
        tty = process["terminal"]
        if detach:
            from dockyard.containers import hooks
            return shimexec.detach(argv, str(hooks.socket_path(self.service.engine.run_dir)),
                                   [*self.service._hook_argv(), "exec-died", eid], tty)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            fds = tuple(null if tty or stream == subprocess.DEVNULL else i if stream is None else
                        stream if isinstance(stream, int) else stream.fileno() for i, stream in enumerate(stdio))
            run = shimexec.Started(argv, fds, tty, pid=True)
        finally:
            os.close(null)
        pid = run.command_pid()
        if pid:
            self._record(c, "UPDATE execs SET pid=? WHERE id=?", (pid, eid))

        def carry(master: int) -> None:  # resizable while it runs
            self._ptys[eid] = master
            try:
                if on_pty is not None:
                    on_pty(master)
            finally:
                self._ptys.pop(eid, None)

        code, failure = run.wait(carry)
        if failure:
            raise InvalidArgument(failure)
        return code


def record_died(conn, c, eid: str, code: int) -> None:
    """(In a write transaction) a detached exec's command ended with `code`: its record, and its
    container's (`c`, None if removed since) exec_die, unless its end is recorded already."""
    from dockyard.containers.views import event_attributes
    from dockyard.store.events import append

    if conn.execute("UPDATE execs SET running=0, exit_code=? WHERE id=? AND running=1", (code, eid)).rowcount and c:
        append(conn, "container", "exec_die", c.id, event_attributes(c, execID=eid, exitCode=str(code)))


def _check_running(c, ref: str) -> None:
    if c.status == "paused":
        raise Conflict(f"Container {ref} is paused, unpause the container before exec")
    if c.status != "running":
        raise Conflict(f"Container {c.id} is not running")


def event_action(kind: str, cmd: list[str]) -> str:
    """An exec event's action as dockerd words it: the command's first word, a space, the
    rest joined (so a command of one word ends in a space)."""
    return f"{kind}: {cmd[0]} {' '.join(cmd[1:])}"


def start_failure(detail: str) -> str:
    """Docker's words for a command the runtime could not start, around the runtime's own."""
    detail = detail.split("unable to start container process: ", 1)[-1].removesuffix(": unknown")
    return f"OCI runtime exec failed: exec failed: unable to start container process: {detail}: unknown"


def start_failure_code(message: str) -> int:
    """The exit code of an exec whose command could not start: 127 when the command is not
    there, 126 for anything else (not executable, no such working dir, no such user)."""
    if 'exec: "' in message and ("executable file not found" in message or "no such file or directory" in message):
        return 127
    return 126
