"""`exec`: extra processes in a running container, with docker's exec create/start/inspect model.

Exec records live in the DB so that an exec created through one API request can be started
and inspected through the next, by whichever process serves it.
"""

from __future__ import annotations

import os

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
        if c.status == "paused":
            raise Conflict(f"Container {ref} is paused, unpause the container before exec")
        if c.status != "running":
            raise Conflict(f"Container {c.id} is not running")
        cmd = body.get("Cmd")
        if not cmd:
            raise InvalidArgument("No exec command specified")
        if body.get("DetachKeys"):
            from dockyard.containers.detachkeys import parse
            parse(body["DetachKeys"], "escape")
        eid = os.urandom(32).hex()
        with self.db.write() as conn:
            conn.execute("INSERT INTO execs(id, container_id, config) VALUES (?,?,?)", (eid, c.id, dumps(body)))
        self.service.event(c, event_action("exec_create", cmd), execID=eid)
        return eid

    def _row(self, eid: str):
        row = self.db.one("SELECT * FROM execs WHERE id=?", (eid,))
        if row is None:
            raise NotFound(f"No such exec instance: {eid}")
        return row

    def inspect(self, eid: str) -> dict:
        row = self._row(eid)
        cfg = loads(row["config"])
        return {
            "ID": eid, "Running": bool(row["running"]), "ExitCode": row["exit_code"], "ProcessConfig": {
                "tty": bool(cfg.get("Tty")), "entrypoint": cfg["Cmd"][0], "arguments": cfg["Cmd"][1:],
                "privileged": bool(cfg.get("Privileged")), "user": cfg.get("User", "")},
            "OpenStdin": bool(cfg.get("AttachStdin")), "OpenStderr": bool(cfg.get("AttachStderr", True)),
            "OpenStdout": bool(cfg.get("AttachStdout", True)), "CanRemove": False,
            "ContainerID": row["container_id"], "DetachKeys": cfg.get("DetachKeys") or "", "Pid": row["pid"],
        }

    def start(self, eid: str, *, detach: bool = False, stdin=None, stdout=None, stderr=None,
              on_pty=None) -> int:
        """Run the exec; returns its exit code (or its pid when detached). With a TTY,
        `on_pty(master_fd)` is called in a thread to carry the terminal while it runs."""
        row = self._row(eid)
        if row["running"] or row["exit_code"] is not None:
            raise Conflict(f"exec {eid[:12]} has already been started")
        c = self.service.get(row["container_id"])
        if c.status != "running":
            raise Conflict(f"Container {c.id} is not running")
        cfg = loads(row["config"])
        with self.db.write() as conn:
            conn.execute("UPDATE execs SET running=1 WHERE id=?", (eid,))
        self.service.event(c, event_action("exec_start", cfg["Cmd"]), execID=eid)
        if detach:
            return self._start_watched(eid)
        code, started = -1, False
        try:
            process, runtime = self._process(c, cfg)
            if process["terminal"]:
                code = self._with_pty(runtime, c.id, process, on_pty, eid)
            else:
                code = runtime.exec_process(c.id, process, stdin=stdin, stdout=stdout, stderr=stderr)
            started = True
        except DockyardError as e:
            code, message = _could_not_start(e)
            raise InvalidArgument(message) from None
        finally:
            self._ended(c, eid, code, started)
        return code

    def _process(self, c, cfg: dict):
        """The exec's OCI process and the container's runtime; an unknown user fails here, as in Docker."""
        from dockyard.containers.process import exec_process
        return exec_process(self.service, c, cfg), self.service._runtime(c)

    def _ended(self, c, eid: str, code: int, started: bool) -> None:
        """Record the exec's end; as dockerd, no exec_die for a command that never ran."""
        with self.db.write() as conn:
            conn.execute("UPDATE execs SET running=0, exit_code=? WHERE id=?", (code, eid))
        if started:
            self.service.event(c, "exec_die", execID=eid, exitCode=str(code))

    def _start_watched(self, eid: str) -> int:
        """A detached exec: a watcher process of its own (`container exec-watch`, which
        outlives this call) starts the command as its parent and records its end with
        exec_die, as dockerd's shim does. Returns the command's pid once it runs."""
        import subprocess
        report, write_end = os.pipe()
        try:
            subprocess.run([*self.service._hook_argv(), "exec-watch", eid, str(write_end)], pass_fds=(write_end,),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            os.close(write_end)
        with os.fdopen(report, "rb") as f:
            answer = f.read().decode(errors="replace")
        if answer.isdigit():
            return int(answer)
        if not answer.startswith("!"):  # the watcher died before it said anything
            with self.db.write() as conn:
                conn.execute("UPDATE execs SET running=0, exit_code=126 WHERE id=? AND running=1 AND pid=0", (eid,))
            raise DockyardError(f"exec {eid[:12]}: its watcher ended without starting it")
        raise InvalidArgument(answer[1:])

    def watch(self, eid: str, report: int) -> None:
        """(`container exec-watch`, in a process of its own) start a detached exec's command
        as its parent (a child subreaper adopts it from the runtime), write its pid to the
        fd `report` (or "!" and why it could not start), then wait for it and record its end."""
        from dockyard.runtime import linux
        from dockyard.runtime.shim.adopt import PR_SET_CHILD_SUBREAPER
        os.set_inheritable(report, False)  # the command must not hold it: the caller reads it to its end
        row = self._row(eid)
        c = self.service.store.get(row["container_id"])
        linux.Syscalls().prctl(PR_SET_CHILD_SUBREAPER, 1)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            process, runtime = self._process(c, loads(row["config"]))
            if process["terminal"]:
                pid = self._start_on_pty(runtime, c.id, process)
            else:
                pid = runtime.exec_process(c.id, process, detach=True, stdin=null, stdout=null, stderr=null)
        except DockyardError as e:
            code, message = _could_not_start(e)
            self._ended(c, eid, code, False)
            os.write(report, b"!" + message.encode())
            return
        with self.db.write() as conn:
            conn.execute("UPDATE execs SET pid=? WHERE id=?", (pid, eid))
        os.write(report, str(pid).encode())
        os.close(report)
        while True:  # whatever else the runtime left to us is reaped on the way
            try:
                done, status = os.waitpid(-1, 0)
            except ChildProcessError:  # not ours after all: its end is unknown
                self._ended(c, eid, -1, False)
                return
            if done == pid:
                break
        code = os.waitstatus_to_exitcode(status)
        self._ended(c, eid, 128 - code if code < 0 else code, True)  # 128+N for signal N, as Docker

    def _start_on_pty(self, runtime, cid: str, process: dict) -> int:
        """Start a detached command on a terminal: its pid. A thread of the watcher reads the
        pty's master (and drops what it reads), so the command never blocks on its output."""
        import socket
        import tempfile
        import threading
        with tempfile.TemporaryDirectory(prefix="dockyard-exec-") as d:
            path = os.path.join(d, "console.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
                server.bind(path)
                server.listen(1)
                server.settimeout(30)
                pid = runtime.exec_process(cid, process, detach=True, console_socket=path)
                conn, _ = server.accept()  # the runtime connected (and sent the master) before it returned
                with conn:
                    _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        threading.Thread(target=_drain, args=(fds[0],), daemon=True).start()
        return pid

    def _with_pty(self, runtime, cid: str, process: dict, on_pty, eid: str) -> int:
        """The runtime hands the pty's master over a console socket; we pass it to `on_pty`."""
        import socket
        import tempfile
        import threading
        with tempfile.TemporaryDirectory(prefix="dockyard-exec-") as d:
            path = os.path.join(d, "console.sock")
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(path)
            server.listen(1)
            box: dict = {}

            def receive() -> None:
                conn, _ = server.accept()
                with conn:
                    _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                if fds:
                    box["fd"] = fds[0]
                    self._ptys[eid] = fds[0]
                    if on_pty is not None:
                        on_pty(fds[0])

            t = threading.Thread(target=receive, daemon=True)
            try:  # the thread starts once the process runs: dockyard's runtime forks its init unthreaded
                code = runtime.exec_process(cid, process, console_socket=path, started=t.start)
            finally:
                server.close()
            if t.ident is not None:
                t.join(timeout=5)
            self._ptys.pop(eid, None)
            if "fd" in box:
                try:
                    os.close(box["fd"])
                except OSError:
                    pass
            return code


def event_action(kind: str, cmd: list[str]) -> str:
    """An exec event's action as dockerd words it: the command's first word, a space, the
    rest joined (so a command of one word ends in a space)."""
    return f"{kind}: {cmd[0]} {' '.join(cmd[1:])}"


def _drain(fd: int) -> None:
    """Read `fd` until its end, dropping what comes."""
    try:
        while os.read(fd, 65536):
            pass
    except OSError:  # EIO: the terminal's last process has gone
        pass


def _could_not_start(e: DockyardError) -> tuple[int, str]:
    """The exit code and Docker's words for a command that could not start."""
    message = e.message if e.message.startswith("unable to find ") else start_failure(e.message)
    return start_failure_code(message), message


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
