"""`dockyard-runtime`: the built-in runtime behind runc's command line, so tools that drive
runc (containerd shims, conformance scripts, dockyard's own shim) can drive it too.

argparse rather than click: this command is started once per container operation and
should import as little as possible.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from dockyard.errors import DockyardError
from dockyard.runtime.builtin import DEFAULT_ROOT, BuiltinRuntime


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dockyard-runtime",
                                     description="OCI runtime (runc-compatible command line)")
    parser.add_argument("--root", default=DEFAULT_ROOT, help="directory for container state")
    parser.add_argument("--log", help="also write errors to this file")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--debug", action="store_true", help="accepted for runc compatibility")
    parser.add_argument("--systemd-cgroup", action="store_true",
                        help="accepted for runc compatibility; cgroupfs is always used")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_id(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text)
        p.add_argument("id")
        return p

    for name, text in (("create", "create a container, stopped before its process runs"),
                       ("run", "create and start a container, wait for it")):
        p = with_id(name, text)
        p.add_argument("--bundle", "-b", default=".")
        p.add_argument("--pid-file")
        p.add_argument("--console-socket")
        if name == "run":
            p.add_argument("--detach", "-d", action="store_true")
    with_id("start", "run the user process of a created container")
    with_id("state", "print the container's state as JSON")
    with_id("pause", "freeze every process of the container")
    with_id("resume", "thaw a paused container")
    p = with_id("kill", "send a signal to the container's init")
    p.add_argument("signal", nargs="?", default="SIGTERM")
    p.add_argument("--all", "-a", action="store_true", help="signal every process")
    p = with_id("delete", "remove a stopped container")
    p.add_argument("--force", "-f", action="store_true")
    p = with_id("ps", "list the container's host pids")
    p.add_argument("--format", "-f", choices=["table", "json"], default="table")
    p = sub.add_parser("list", help="list containers")
    p.add_argument("--format", "-f", choices=["table", "json"], default="table")
    p.add_argument("--quiet", "-q", action="store_true")
    p = with_id("exec", "run a process in a running container")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.add_argument("--process", "-p", help="OCI process JSON file")
    p.add_argument("--detach", "-d", action="store_true")
    p.add_argument("--pid-file")
    p.add_argument("--console-socket")
    p.add_argument("--tty", "-t", action="store_true")
    p.add_argument("--cwd")
    p.add_argument("--env", "-e", action="append", default=[])
    p.add_argument("--user", "-u", help="uid[:gid]")
    return parser


def _exec_process(args: argparse.Namespace) -> dict:
    if args.process:
        with open(args.process) as f:
            return json.load(f)
    if not args.args:
        raise DockyardError("exec needs a command or --process")
    process: dict = {"args": args.args, "terminal": args.tty}
    if args.cwd:
        process["cwd"] = args.cwd
    if args.user:
        uid, _, gid = args.user.partition(":")
        process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if args.env:
        process["env"] = args.env
    return process


def _dispatch(runtime: BuiltinRuntime, args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "create":
        runtime.create(args.id, args.bundle, pid_file=args.pid_file,
                       console_socket=args.console_socket)
    elif cmd == "run":
        if args.detach:
            runtime.create(args.id, args.bundle, pid_file=args.pid_file,
                           console_socket=args.console_socket)
            runtime.start(args.id)
            return 0
        return runtime.run(args.id, args.bundle, console_socket=args.console_socket,
                           pid_file=args.pid_file)
    elif cmd == "start":
        runtime.start(args.id)
    elif cmd == "state":
        print(json.dumps(runtime.state(args.id), indent=2))
    elif cmd == "kill":
        runtime.kill(args.id, args.signal, all_processes=args.all)
    elif cmd == "delete":
        runtime.delete(args.id, force=args.force)
    elif cmd == "pause":
        runtime.pause(args.id)
    elif cmd == "resume":
        runtime.resume(args.id)
    elif cmd == "ps":
        pids = runtime.ps(args.id)
        print(json.dumps(pids) if args.format == "json" else "\n".join(["PID"] + [str(p) for p in pids]))
    elif cmd == "list":
        states = runtime.list()
        if args.quiet:
            print("\n".join(s["id"] for s in states))
        elif args.format == "json":
            print(json.dumps(states))
        else:
            print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} CREATED")
            for s in states:
                print(f"{s['id']:<20} {s['pid']:<8} {s['status']:<10} {s['bundle']:<40} {s['created']}")
    elif cmd == "exec":
        result = runtime.exec_process(args.id, _exec_process(args), detach=args.detach,
                                      pid_file=args.pid_file, console_socket=args.console_socket)
        return 0 if args.detach else result
    return 0


def _log_error(args: argparse.Namespace, message: str) -> None:
    if not args.log:
        return
    when = datetime.now(timezone.utc).isoformat()
    line = json.dumps({"level": "error", "msg": message, "time": when}) \
        if args.log_format == "json" else f"time={when} level=error msg={message!r}"
    with open(args.log, "a") as f:
        f.write(line + "\n")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `dockyard-runtime` command; exits with the container's code for
    `run` and `exec`, 1 with one line on stderr for any failure."""
    args = _parser().parse_args(argv)
    try:
        code = _dispatch(BuiltinRuntime(args.root), args)
    except DockyardError as err:
        print(f"dockyard-runtime: {err.message}", file=sys.stderr)
        _log_error(args, err.message)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code)
