"""`dockyard serve`: the Engine API on unix sockets and TCP ports, until SIGTERM or SIGINT.

A unix socket is created mode 0660 and owned by the given group (as dockerd's `docker`
group), so membership grants access. TCP without TLS is an unauthenticated root shell for
anyone who can connect, so it is only allowed on a loopback address, with a warning;
anything else needs `--tlsverify` (client certificates) or at least `--tlscert/--tlskey`.
Engine calls block (files, SQLite, processes), so they run on a thread pool sized for long
waits (`wait`, `logs --follow`, attach) as well as short calls.
"""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import signal
import socket
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from dockyard.addresses import is_loopback
from dockyard.errors import InvalidArgument, NotFound

log = logging.getLogger("dockyard.api")
WORKERS = 256
DEFAULT_GROUP = "docker"


@dataclass(frozen=True)
class TLSOptions:
    cert: str | None = None
    key: str | None = None
    cacert: str | None = None
    verify: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.cert or self.verify)

    def context(self) -> ssl.SSLContext:
        if not self.cert or not self.key:
            raise InvalidArgument("TLS needs both --tlscert and --tlskey")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        if self.verify:
            if not self.cacert:
                raise InvalidArgument("--tlsverify needs --tlscacert to check client certificates against")
            ctx.load_verify_locations(self.cacert)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


@dataclass(frozen=True)
class Listener:
    scheme: str      # unix | tcp
    address: str     # socket path, or host
    port: int = 0

    @classmethod
    def parse(cls, spec: str) -> "Listener":
        """`unix:///path`, `tcp://host:port` (port 2375 by default), as dockerd's -H."""
        if spec.startswith("unix://"):
            path = spec[len("unix://"):]
            if not path.startswith("/"):
                raise InvalidArgument(f"-H {spec}: a unix socket needs an absolute path (unix:///run/x.sock)")
            return cls("unix", path)
        if spec.startswith("tcp://"):
            u = urlparse(spec)
            if not u.hostname:
                raise InvalidArgument(f"-H {spec}: give a host, e.g. tcp://127.0.0.1:2375")
            return cls("tcp", u.hostname, u.port if u.port is not None else 2375)
        raise InvalidArgument(f"-H {spec}: use unix:///PATH or tcp://HOST:PORT")


def check_listeners(listeners: list[Listener], tls: TLSOptions) -> None:
    """Refuse an unprotected TCP listener on a non-loopback address."""
    for lst in listeners:
        if lst.scheme == "tcp" and not tls.enabled and not is_loopback(lst.address):
            raise InvalidArgument(
                f"refusing to serve the API without TLS on {lst.address}:{lst.port}: anyone who can reach it "
                "would have root on this host. Use a loopback address, or --tlsverify with "
                "--tlscacert/--tlscert/--tlskey")


def _group_id(group: str | None) -> int | None:
    """The socket's group: the one asked for (which must exist), else `docker` if it exists
    (not for a rootless user's socket, which stays the user's own group's)."""
    from dockyard import rootless

    if not group and rootless.active():
        return None
    name = group or DEFAULT_GROUP
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if group:
            raise NotFound(f"group {group!r} does not exist: create it or choose another with --group") from None
        return None


def _unix_socket(path: str, gid: int | None, mode: int = 0o660) -> socket.socket:
    """Bind the socket (replacing a stale one), mode 0660 unless told, owned by `gid`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_socket():
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(path)
        except OSError:
            p.unlink()
        else:
            raise InvalidArgument(f"{path} is in use by another server")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777 & ~mode)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    os.chmod(path, mode)
    if gid is not None:
        os.chown(path, -1, gid)
    return sock


class _MalformedRequests(logging.Filter):
    """aiohttp answers a request it cannot parse (request line, header, chunk, length) with 400
    itself, then logs the parser's traceback as an error. The mistake is the client's: one line
    at info level says what was refused."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            lines = str(exc.message).strip().splitlines()
            record.msg, record.args = "refused a malformed request: %s", (lines[0] if lines else exc.code,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


async def _serve(engine, listeners: list[Listener], tls: TLSOptions, group: str | None) -> None:
    from aiohttp import web

    from dockyard.api.app import make_app
    from dockyard.containers import hooks

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="engine"))
    logging.getLogger("aiohttp.server").addFilter(_MalformedRequests())
    app = make_app(engine)
    runner = web.AppRunner(app, access_log=log if log.isEnabledFor(logging.DEBUG) else None,
                           shutdown_timeout=2.0, handle_signals=False)
    await runner.setup()
    ssl_context = tls.context() if tls.enabled else None
    gid = _group_id(group) if any(lst.scheme == "unix" for lst in listeners) else None
    unix_paths = []
    hook_path = str(hooks.socket_path(engine.run_dir))
    try:  # root's own: a hook's words are trusted
        hook_socket = _unix_socket(hook_path, None, mode=0o600)
    except (InvalidArgument, OSError) as e:
        log.warning("not running the shims' hooks here (%s): they run as processes", getattr(e, "message", e))
    else:
        unix_paths.append(_own(hook_path))
        await hooks.serve(engine, hook_socket)
    try:
        for lst in listeners:
            if lst.scheme == "unix":
                site = web.SockSite(runner, _unix_socket(lst.address, gid))
                unix_paths.append(_own(lst.address))
                await site.start()
                print(f"API listening on unix://{lst.address}", flush=True)
            else:
                if ssl_context is None:
                    print(f"WARNING: serving the API on tcp://{lst.address}:{lst.port} WITHOUT TLS: any local "
                          "user or process can control dockyard as root through it", file=sys.stderr, flush=True)
                sock = socket.create_server((lst.address, lst.port))
                site = web.SockSite(runner, sock, ssl_context=ssl_context)
                await site.start()
                host, port = sock.getsockname()[:2]
                scheme = "https" if ssl_context else "tcp"
                print(f"API listening on {scheme}://{host}:{port}", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        for path, identity in unix_paths:
            _remove_own(path, identity)


def _own(path: str) -> tuple[str, tuple[int, int]]:
    """A socket just bound, with what tells it from one a later server binds there: its inode
    and change time (an inode number is reused at once)."""
    st = os.stat(path)
    return path, (st.st_ino, st.st_ctime_ns)


def _remove_own(path: str, identity: tuple[int, int]) -> None:
    """Remove the socket at `path` if it is still this server's: a server started while this
    one was stopping (its socket no longer answering) has bound a new one there."""
    try:
        st = os.stat(path)
        if (st.st_ino, st.st_ctime_ns) == identity:
            os.unlink(path)
    except FileNotFoundError:
        pass


def serve(engine, hosts: list[str], tls: TLSOptions, group: str | None = None) -> None:
    """Run the API server over `engine` until a signal ends it."""
    listeners = [Listener.parse(h) for h in hosts]
    check_listeners(listeners, tls)
    # Build the services once, in this thread: they run their schema migrations as they come up.
    for service in ("images", "volumes", "networks", "events", "containers"):
        getattr(engine, service)
    from dockyard.containers.hooks import finish_unhandled
    from dockyard.runtime.shim import forkserver
    finish_unhandled(engine)
    os.chdir("/")  # a daemon holds no directory busy, and relative paths never mean its cwd
    raise_open_file_limit()
    forkserver.start()
    try:
        asyncio.run(_serve(engine, listeners, tls, group))
    finally:
        forkserver.stop()


def raise_open_file_limit() -> None:
    """Take the hard limit of open files as the soft one, as dockerd (a Go program) does at its
    start: the server holds an fd per running container (the pidfd that tells it the shim
    died) beside its clients' connections, and the usual soft limit of 1,024 ran out with
    1,000 containers running. What it starts (shims, containers) inherits the limit, as
    dockerd's containers do under its unit's LimitNOFILE."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
