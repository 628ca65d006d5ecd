"""Running the registry: parse the listen address, set up TLS and the access log, serve until signalled."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from pathlib import Path

from dockyard.errors import InvalidArgument


def parse_addr(addr: str) -> tuple[str | None, int]:
    """`host:port`, `[v6]:port`, `:port` (all interfaces) or `port` → (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        host, port = "", addr
    if not port.isdigit() or int(port) > 65535:
        raise InvalidArgument(f"invalid listen address {addr!r}: expected HOST:PORT")
    return (host.strip("[]") or None), int(port)


def _tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


async def start(addr: str, root: str, *, tls_cert: str | None = None, tls_key: str | None = None,
                auth: str | None = None, notify: list[str] | tuple[str, ...] = (), proxy: dict | None = None):
    """Start serving in the running event loop; returns (runner, base URL). Stop with runner.cleanup()."""
    from aiohttp import web

    from dockyard.registry.accesslog import CommonLogFormat, access_logger
    from dockyard.registry.app import make_app
    from dockyard.registry.auth import from_spec

    if bool(tls_cert) != bool(tls_key):
        raise InvalidArgument("--tls-cert and --tls-key must be given together")
    host, port = parse_addr(addr)
    Path(root).mkdir(parents=True, exist_ok=True)
    app = make_app(root, access=from_spec(auth, Path(root)), notify=notify, proxy=proxy)
    runner = web.AppRunner(app, access_log_class=CommonLogFormat, access_log=access_logger())
    await runner.setup()
    ctx = _tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
    site = web.TCPSite(runner, host, port, ssl_context=ctx)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"{'https' if ctx else 'http'}://{shown}:{bound_port}"


async def _serve_forever(addr: str, root: str, **options) -> None:
    await serve_until_signalled(start(addr, root, **options), "registry")


async def serve_until_signalled(started, what: str) -> None:
    """Await `started` (a start() giving (runner, url)), say where it listens, and serve
    until SIGINT or SIGTERM; shared by every server front end."""
    runner, url = await started
    print(f"dockyard {what} listening on {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(addr: str, root: str, *, tls_cert: str | None = None, tls_key: str | None = None,
          auth: str | None = None, notify: list[str] | tuple[str, ...] = (), proxy: dict | None = None) -> None:
    """Serve the registry at `addr` over the state in `root` until SIGINT or SIGTERM.

    Prints `dockyard registry listening on URL` once ready (with the real port when `addr`
    asks for port 0); the access log goes to stderr unless logging is already configured.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    asyncio.run(_serve_forever(addr, root, tls_cert=tls_cert, tls_key=tls_key, auth=auth, notify=notify, proxy=proxy))
