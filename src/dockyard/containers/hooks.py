"""The shims' hooks, run inside `dockyard serve` instead of one Python process each.

A shim's exit hook (record the exit, release the network and rootfs, honour --rm), health
hook (a `health_status` event) and a detached exec's end (`dockyard-shim exec --detach`: its
record and `exec_die`) are `dockyard ... container cleanup|health-event|exec-died ...` commands.
As processes they cost an interpreter's start and imports per container exit, the largest
load of a server under churn. So while a server runs it listens on `<run-dir>/hooks.sock`
(mode 0600: root's own); every shim is started with `--hook-socket` there, sends the hook's
argv to it and, once the server answers "ok", runs no process. When nobody listens (no
server, or one that does not answer in time) the shim runs the process as before.

An exit the server took but never handled (it was killed in between) is finished by the
next server's start (`finish_unhandled`), as are exits that came while no server ran.
"""

from __future__ import annotations

TYPE_CHECKING = False  # no `typing` (~3 ms) for exec's quick path, which reads SOCKET and argv
if TYPE_CHECKING:
    import socket
    from pathlib import Path

SOCKET = "hooks.sock"


def _log():
    """The hooks' logger; `logging` loads only in the server that runs them (every container
    command imports this module for socket_path, and logging costs ~4 ms to import)."""
    import logging
    return logging.getLogger("dockyard.hooks")


def socket_path(run_dir: Path) -> Path:
    return run_dir / SOCKET


def argv(root, run_dir) -> list[str]:
    """`dockyard ... container` on this root: the hooks are its hidden subcommands."""
    from dockyard.containers.runtimes import dockyard_binary
    return [dockyard_binary(), "--root", str(root), "--run-dir", str(run_dir), "container"]


def handle(engine, argv: list[str]) -> None:
    """Run one hook's argv (`dockyard --root R --run-dir D container CMD ARGS...`) in-process;
    a hook for another root (a run dir shared by mistake) is ignored."""
    if "container" not in argv:
        raise ValueError(f"not a container hook: {argv!r}")
    at = argv.index("container")
    head, (command, *args) = argv[:at], argv[at + 1:]
    from pathlib import Path

    if "--root" in head and Path(head[head.index("--root") + 1]) != engine.root:
        _log().warning("ignored a hook for another root: %s", " ".join(argv))
        return
    if command == "cleanup" and len(args) in (2, 3):
        engine.containers.cleanup(*args)
    elif command == "health-event" and len(args) == 3:
        engine.containers.health_event(*args)
    elif command == "exec-died" and len(args) == 2:
        engine.containers.execs.died(args[0], int(args[1]))
    else:
        raise ValueError(f"unknown hook: {' '.join(argv[at + 1:])}")


def finish_unhandled(engine) -> None:
    """At a server's start: end the containers whose shims ended while no server took their
    exit hook (reconcile), then remove the --rm ones that exited without being removed."""
    from dockyard.containers.foreground import owner_alive

    containers = engine.containers
    containers.reconcile()
    for c in containers.store.all():
        if c.status in ("exited", "dead") and c.host_config.get("AutoRemove") \
                and not owner_alive(containers.run_dir(c.id)):
            try:
                containers.remove(c.id, force=True, volumes=True)
            except Exception as e:  # noqa: BLE001 - one container must not stop the server's start
                _log().warning("could not remove exited --rm container %s: %s", c.id[:12], e)


async def serve(engine, sock: socket.socket):
    """Answer the shims on `sock`: "ok" as soon as a hook's argv is read, then run it on the
    loop's executor (a shim must not wait for the release it asks for)."""
    import asyncio
    loop = asyncio.get_running_loop()

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await reader.read()  # to the shim's half-close
            argv = data.decode(errors="replace").split("\0")[:-1]
            if not argv:
                return
            writer.write(b"ok\n")
            await writer.drain()
        except OSError:
            return
        finally:
            writer.close()
        try:
            await loop.run_in_executor(None, handle, engine, argv)
        except Exception:  # noqa: BLE001 - a hook's failure is logged, as the process's would be
            _log().exception("hook %s failed", " ".join(argv[-4:]))
        else:
            _log().debug("ran hook %s in-process", " ".join(argv[argv.index("container") + 1:]))

    return await asyncio.start_unix_server(one, sock=sock)
