"""`exec [-i] [-t] [-d] [-u USER] [-w DIR] [-e VAR]... [--privileged] NAME COMMAND...` run
before the command-line parser loads.

The full command (cli/containers.py, containers/execs.py) loads click and the container
service before it starts the same `dockyard-shim exec` (containers/shimexec.py). Here the
container's record is read (store/reader.py), the exec is recorded with its exec_create and
exec_start events as Execs records them, the shim runs the command (with the process the full
command builds: containers/process.py), then its exit code and exec_die are recorded. Both
paths give the same process, output, codes, record and events.

Anything else returns None and the full command runs as it always would: --env-file,
--detach-keys, other flags or global options, a container that is not running or not found
(the full command says so), a record that lags its shim, a DB to migrate. A rootless engine's command (root in the user's namespaces by now) takes it too.
"""

from __future__ import annotations

import os
import sys

_FLAGS = {"-i": "AttachStdin", "--interactive": "AttachStdin", "-t": "Tty", "--tty": "Tty", "-d": "Detach",
          "--detach": "Detach", "--privileged": "Privileged"}
_VALUES = {"-u": "User", "--user": "User", "-w": "WorkingDir", "--workdir": "WorkingDir", "-e": "Env", "--env": "Env"}


def before_parsing(args: list[str]) -> int | None:
    """Run a plain `exec` (or `container exec`) here: its exit code, or None for anything else."""
    if args[:2] == ["container", "exec"]:
        args = args[1:]
    if args[:1] == ["--root"]:
        return exec_died(args)
    if args[:1] != ["exec"] or os.geteuid() != 0:  # a rootless engine's command is root in its namespace
        return None
    request = parse(args[1:])
    if request is None:
        return None
    from dockyard.errors import DockyardError
    from dockyard.store.reader import Error as DBError

    try:
        found = _prepare(*request)
        if found is None:
            return None
        eid = _record_start(*found[:3])
    except (DockyardError, DBError, OSError, ValueError, KeyError):
        return None  # the full command reports it properly (or migrates the DB first); nothing is written
    return _run(eid, request[2], *found)


def exec_died(args: list[str]) -> int | None:
    """The hook of a detached exec (`dockyard --root R --run-dir D container exec-died EID CODE`,
    from `dockyard-shim exec --detach`) run here, as Execs.died runs it; None for anything else."""
    if len(args) != 8 or args[0] != "--root" or args[2] != "--run-dir" or args[4:6] != ["container", "exec-died"] \
            or not args[7].lstrip("-").isdigit() or os.geteuid() != 0:
        return None
    from dockyard.containers.execs import record_died
    from dockyard.containers.record import ContainerStore
    from dockyard.store.reader import Error as DBError, Reader

    path = os.path.join(args[1], "dockyard.db")
    if not os.path.exists(path):
        return 0  # the root is gone, and its execs with it
    try:
        db = Reader(path)
        row = db.one("SELECT container_id FROM execs WHERE id=?", (args[6],))
        if row is None:
            return None  # the full command says so
        c = ContainerStore(db).find(row[0])
        db.write(lambda conn: record_died(conn, c, args[6], int(args[7])))
    except DBError:
        return None
    return 0


def parse(args: list[str]) -> tuple[str, dict, bool] | None:
    """(container, ExecConfig as the full command sends it, -d) of exec's arguments, or None for
    a form the full command handles. As click parses them: options until the container's name,
    then the command, whatever it looks like."""
    flags = dict.fromkeys(("AttachStdin", "Tty", "Detach", "Privileged"), False)
    values: dict[str, list[str]] = {"User": [], "WorkingDir": [], "Env": []}
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg[:2], "", arg[2:])
        if name in _FLAGS and not eq and not value:
            flags[_FLAGS[name]] = True
        elif not arg.startswith("--") and len(arg) > 2 and set(arg[1:]) <= set("itd"):  # -it, -dt
            flags.update((_FLAGS["-" + letter], True) for letter in arg[1:])
        elif name in _VALUES:
            if not eq and not value:
                if i + 1 >= len(args):
                    return None
                i += 1
                value = args[i]
            values[_VALUES[name]].append(value)
        else:
            return None  # --env-file, --detach-keys, --help, other combined flags, `--`
        i += 1
    if len(args) < i + 2:
        return None  # no container or no command: the full command says so
    from dockyard.cli.runflags import env_list

    body = {"Cmd": args[i + 1:], "Env": env_list(values["Env"], []),
            "WorkingDir": (values["WorkingDir"] or [""])[-1], "User": (values["User"] or [""])[-1],
            "Tty": flags["Tty"], "AttachStdin": flags["AttachStdin"], "Privileged": flags["Privileged"]}
    return args[i], body, flags["Detach"]


def _prepare(name: str, body: dict, detach: bool):
    """Everything the run needs, read before anything is written; None for the full command."""
    from dockyard.cli.readonly import _containers, _current
    from dockyard.containers import shimexec
    from dockyard.containers.execs import MIGRATIONS
    from dockyard.store.events import EventLog

    shim = shimexec.shim_binary()
    found = _containers() if shim else None
    if found is None:
        return None
    store, where = found
    c = store.find(name)
    if c is None or c.status != "running" or not _current(c, where):
        return None
    from dockyard.runtime.shim.records import state_dir

    target = shimexec.shim_child(state_dir(where.run_dir, c.id))
    if target is None:
        return None
    store.db.migrate("execs", MIGRATIONS)
    EventLog(store.db)  # its schema is current, or Behind sends us to the full command
    from dockyard.containers.process import command_process
    from dockyard.errors import InvalidArgument

    argv, failure = [], None
    try:
        argv = shimexec.command(shim, where.run_dir, c.id, target, command_process(where.run_dir, c, body))
    except InvalidArgument as e:  # no such user or group: the start fails, as in Docker
        failure = e.message
    return store.db, c, body, argv, failure, where


def _record_start(db, c, body: dict) -> str:
    """The exec's row with its exec_create and exec_start events, in one transaction: its ID."""
    from dockyard.containers.execs import event_action
    from dockyard.containers.views import event_attributes
    from dockyard.jsonwrite import dumps
    from dockyard.store.events import append

    eid = os.urandom(32).hex()
    attributes = event_attributes(c, execID=eid)

    def started(conn) -> None:
        conn.execute("INSERT INTO execs(id, container_id, config, running) VALUES (?,?,?,1)", (eid, c.id, dumps(body)))
        append(conn, "container", event_action("exec_create", body["Cmd"]), c.id, attributes)
        append(conn, "container", event_action("exec_start", body["Cmd"]), c.id, attributes)

    db.write(started)
    return eid


def _run(eid: str, detach: bool, db, c, body: dict, argv: list[str], failure: str | None, where) -> int:
    """Run the command (unless it already failed), say why it could not start, record its end
    (a detached command's: its pid; the shim's hook records its end, containers/shimexec.py)."""
    from dockyard.containers.execs import start_failure_code
    from dockyard.containers.views import event_attributes
    from dockyard.store.events import append
    from dockyard.store.reader import Error as DBError

    code, pid, interrupted = -1, 0, False
    if failure is None:
        try:
            if detach:
                pid, failure = _detach(argv, eid, where, body["Tty"])
            else:
                code, pid, failure = _spawn(argv, body["AttachStdin"], body["Tty"])
        except KeyboardInterrupt:  # recorded as the full command records it; the command runs on
            interrupted = True
    if interrupted:
        sys.stderr.write("\nAborted.\n")  # the full command's words (cli/main.py), and its code below
    elif failure:
        code = start_failure_code(failure)
        sys.stderr.write(("Error: " if detach else "") + failure + "\n")  # as the full command's

    def ended(conn) -> None:
        if detach and not (failure or interrupted):
            conn.execute("UPDATE execs SET pid=? WHERE id=?", (pid, eid))
            return
        conn.execute("UPDATE execs SET running=0, exit_code=?, pid=? WHERE id=?", (code, pid, eid))
        if not (failure or interrupted):  # as dockerd: no exec_die for a command that never ran
            append(conn, "container", "exec_die", c.id, event_attributes(c, execID=eid, exitCode=str(code)))

    try:
        db.write(ended)
    except DBError as e:  # the command ran: its code stands
        sys.stderr.write(f"Error: recording the exec's end: {e}\n")
    if interrupted:
        return 130
    return 125 if detach and failure else 0 if detach else code


def _spawn(argv: list[str], interactive: bool, tty: bool) -> tuple[int, int, str]:
    """Run `dockyard-shim exec` with our stdio (stdin only with -i, as Docker), or a pty the
    terminal is carried to (cli/attach.py), and wait: the command's exit code and pid, and why
    it could not start ("" if it did)."""
    from dockyard.containers.shimexec import Started

    sys.stdout.flush()
    sys.stderr.flush()
    stdin = 0 if interactive and not tty else os.open(os.devnull, os.O_RDONLY)
    try:
        started = Started(argv, (stdin, stdin, stdin) if tty else (stdin, 1, 2), tty, pid=True)
    finally:
        if stdin:
            os.close(stdin)
    pid = started.command_pid()
    def on_pty(master: int) -> None:
        from dockyard.cli.attach import pump_pty
        pump_pty(master, stdin=interactive)
    code, failure = started.wait(on_pty if tty else None)
    return code, pid, failure


def _detach(argv: list[str], eid: str, where, tty: bool) -> tuple[int, str]:
    """Start the command detached (`dockyard-shim exec --detach`): its pid, or why it could not start."""
    from dockyard.containers import hooks, shimexec
    from dockyard.errors import InvalidArgument

    try:
        return shimexec.detach(argv, os.path.join(where.run_dir, hooks.SOCKET),
                               [*hooks.argv(where.root, where.run_dir), "exec-died", eid], tty), ""
    except InvalidArgument as e:
        return 0, e.message
