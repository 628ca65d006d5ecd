"""`exec [-i] [-u USER] [-w DIR] [-e VAR]... [--privileged] NAME COMMAND...` run before the
command-line parser loads.

The full command (cli/containers.py, containers/execs.py) loads click, the container service
and the runtime, and forks a Python init that joins the container: ~90 ms where Docker takes
~70. Here the container's record is read (store/reader.py), the exec is recorded with its
exec_create and exec_start events as Execs records them, and `dockyard-shim exec` (exec.c,
probe.c) joins the container's namespaces and cgroups and runs the command with the
container's exec profile (containers/execprofile.py) and the command's own args, env, user
and working dir (containers/process.py, as the full command builds them); then its exit code
and exec_die are recorded. Both paths give the same process, output, codes, record and events.

Anything else returns None and the full command runs as it always would: a terminal (-t), -d,
--env-file, --detach-keys, other flags or global options, a container that is not running or
not found (the full command says so), another runtime than dockyard's own, a record that lags
its shim, an ordinary user (rootless), a DB to migrate.
"""

from __future__ import annotations

import os
import sys

_FLAGS = {"-i": "AttachStdin", "--interactive": "AttachStdin", "--privileged": "Privileged"}
_VALUES = {"-u": "User", "--user": "User", "-w": "WorkingDir", "--workdir": "WorkingDir", "-e": "Env", "--env": "Env"}


def before_parsing(args: list[str]) -> int | None:
    """Run a plain `exec` (or `container exec`) here: its exit code, or None for anything else."""
    if args[:2] == ["container", "exec"]:
        args = args[1:]
    from dockyard import rootless

    if args[:1] != ["exec"] or os.geteuid() != 0 or rootless.active():
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
    return _run(eid, *found)


def parse(args: list[str]) -> tuple[str, dict] | None:
    """(container, ExecConfig as the full command sends it) of exec's arguments, or None for a
    form the full command handles. As click parses them: options until the container's name,
    then the command, whatever it looks like."""
    flags = dict.fromkeys(("AttachStdin", "Privileged"), False)
    values: dict[str, list[str]] = {"User": [], "WorkingDir": [], "Env": []}
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        arg = args[i]
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg[:2], "", arg[2:])
        if name in _FLAGS and not eq and not value:
            flags[_FLAGS[name]] = True
        elif name in _VALUES:
            if not eq and not value:
                if i + 1 >= len(args):
                    return None
                i += 1
                value = args[i]
            values[_VALUES[name]].append(value)
        else:
            return None  # -t, -d, --env-file, --detach-keys, --help, combined flags, `--`
        i += 1
    if len(args) < i + 2:
        return None  # no container or no command: the full command says so
    from dockyard.cli.runflags import env_list

    body = {"Cmd": args[i + 1:], "Env": env_list(values["Env"], []),
            "WorkingDir": (values["WorkingDir"] or [""])[-1], "User": (values["User"] or [""])[-1],
            "Tty": False, "AttachStdin": flags["AttachStdin"], "Privileged": flags["Privileged"]}
    return args[i], body


def _prepare(name: str, body: dict):
    """Everything the run needs, read before anything is written; None for the full command."""
    from dockyard.cli.readonly import _containers, _current
    from dockyard.containers.execs import MIGRATIONS
    from dockyard.store.events import EventLog

    shim = os.path.join(os.path.dirname(sys.executable), "dockyard-shim")
    found = _containers() if os.access(shim, os.X_OK) else None
    if found is None:
        return None
    store, where = found
    c = store.find(name)
    if c is None or c.status != "running" or not _current(c, where) or \
            (c.host_config.get("Runtime") or "dockyard") != "dockyard":
        return None
    target = _init_pid(where.run_dir, c.id)
    if target is None:
        return None
    store.db.migrate("execs", MIGRATIONS)
    EventLog(store.db)  # its schema is current, or Behind sends us to the full command
    from dockyard.containers.execprofile import profile
    from dockyard.errors import InvalidArgument

    settings, failure = [], None
    try:
        settings = _settings(where.run_dir, c, body)
    except InvalidArgument as e:  # no such user or group: the start fails, as in Docker
        failure = e.message
    return store.db, c, body, [shim, "exec", str(target), profile(where.run_dir, c.id), *settings], failure


def _init_pid(run_dir: str, cid: str) -> int | None:
    """The container init's pid as dockyard's runtime recorded it, if that process still runs."""
    from dockyard.jsonread import load_file
    from dockyard.runtime.shim.records import process_start_time

    state = os.path.join(run_dir, "runtime", "dockyard", cid)
    record = load_file(os.path.join(state, "state.json"))
    pid = record.get("pid") or 0
    if pid <= 0 or process_start_time(pid) != record.get("start_time") or os.path.exists(os.path.join(state, "exec.fifo")):
        return None
    return pid


def _settings(run_dir: str, c, body: dict) -> list[str]:
    """`dockyard-shim exec`'s lines for the command (after the profile's: a privileged exec's
    capabilities replace the container's)."""
    from dockyard.containers.process import command_process
    from dockyard.runtime.shim import entering

    process = command_process(run_dir, c, body)
    lines = entering.command_lines(process)
    if "capabilities" in process:
        lines += entering.capability_lines(process["capabilities"])
    return [f"{k} {v}" for k, v in lines]


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


def _run(eid: str, db, c, body: dict, argv: list[str], failure: str | None) -> int:
    """Run the command (unless it already failed), say why it could not start, record its end."""
    from dockyard.containers.execs import start_failure_code
    from dockyard.containers.views import event_attributes
    from dockyard.store.events import append
    from dockyard.store.reader import Error as DBError

    code, interrupted = -1, False
    if failure is None:
        try:
            code, failure = _spawn(argv, body["AttachStdin"])
        except KeyboardInterrupt:  # recorded as the full command records it; the command runs on
            interrupted = True
    if interrupted:
        sys.stderr.write("\nAborted.\n")  # the full command's words (cli/main.py), and its code below
    elif failure:
        code = start_failure_code(failure)
        sys.stderr.write(failure + "\n")

    def ended(conn) -> None:
        conn.execute("UPDATE execs SET running=0, exit_code=? WHERE id=?", (code, eid))
        if not (failure or interrupted):  # as dockerd: no exec_die for a command that never ran
            append(conn, "container", "exec_die", c.id, event_attributes(c, execID=eid, exitCode=str(code)))

    try:
        db.write(ended)
    except DBError as e:  # the command ran: its code stands
        sys.stderr.write(f"Error: recording the exec's end: {e}\n")
    return 130 if interrupted else code


def _spawn(argv: list[str], interactive: bool) -> tuple[int, str]:
    """Run `dockyard-shim exec` with our stdio (stdin only with -i, as Docker) and wait: the
    command's exit code, and why it could not start ("" if it did)."""
    sys.stdout.flush()
    sys.stderr.flush()
    report, write_end = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, write_end, 3)]
    if not interactive:
        actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    finally:
        os.close(write_end)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with os.fdopen(report, "rb") as f:
        failure = f.read().decode(errors="replace").strip()
    return (128 - code if code < 0 else code), failure
