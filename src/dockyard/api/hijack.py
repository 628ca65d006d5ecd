"""Hijacked connections: how attach and exec start carry a container's stdio over HTTP.

The client asks for `Connection: Upgrade` / `Upgrade: tcp`; dockerd answers
`101 UPGRADED` and from then on the connection is a raw byte pipe both ways: the client's
bytes are the container's stdin, the server's are its output (stdcopy frames, or raw for a
TTY). When the client's stdin ends it half-closes the connection (shutdown SHUT_WR) and
still expects the output until the container is done.

aiohttp parses the upgrade and then hands the connection's bytes to whatever is installed
with `set_parser`; it closes a connection on the peer's EOF, though, which would lose the
output after a half-close. So the transport's protocol is wrapped by one that keeps the
connection open on EOF and tells the inbound stream instead; everything else goes to
aiohttp as before.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


class _Inbound:
    """The parser aiohttp feeds an upgraded connection's bytes to; read them from `reader`."""

    def __init__(self) -> None:
        self.reader = asyncio.StreamReader()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        if not self.reader.at_eof():
            self.reader.feed_eof()


class _KeepOpenOnEOF(asyncio.Protocol):
    """Delegates to aiohttp's protocol, except that the peer's EOF is a half-close."""

    def __init__(self, inner: asyncio.Protocol, inbound: _Inbound) -> None:
        self.inner, self.inbound = inner, inbound

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool:
        self.inbound.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.inbound.feed_eof()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def wants_upgrade(request: web.Request) -> bool:
    return "upgrade" in request.headers.get("Connection", "").lower() and bool(request.headers.get("Upgrade"))


async def hijack(request: web.Request, multiplexed: bool) -> tuple[web.StreamResponse, asyncio.StreamReader]:
    """Take over the connection; returns the response to write output to and a reader of the
    client's bytes (at EOF at once when the client did not upgrade, as a plain POST has no stdin).
    A multiplexed stream is announced as one from API 1.42 on (as raw before, as dockerd did)."""
    from dockyard.api import version
    content_type = MULTIPLEXED if multiplexed and not version.older(request, "1.42") else RAW
    if wants_upgrade(request):
        resp = web.StreamResponse(status=101, reason="UPGRADED",
                                  headers={"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"})
    else:
        resp = web.StreamResponse(headers={"Content-Type": content_type})
    resp.force_close()
    await resp.prepare(request)
    inbound = _Inbound()
    if wants_upgrade(request):
        request.protocol.set_parser(inbound)
        request.transport.set_protocol(_KeepOpenOnEOF(request.protocol, inbound))
    else:
        inbound.feed_eof()
    return resp, inbound.reader


async def pipe(request: web.Request, resp: web.StreamResponse, client: asyncio.StreamReader,
               output: asyncio.StreamReader, stdin: asyncio.StreamWriter | None, detach=None,
               streams: frozenset[int] | None = None) -> None:
    """Copy `output` to the client until it ends, and the client's bytes to `stdin` meanwhile
    (a half-close becomes a half-close of `stdin`). Returns when the output ends, the
    client has gone away altogether, or it typed the detach keys (`detach`, a DetachWatch).
    With `streams`, `output` is multiplexed and only the frames of those streams (1 stdout,
    2 stderr) are copied: what the client attached to, as dockerd sends."""

    async def upstream() -> None:
        while data := await client.read(65536):
            if stdin is None:
                continue
            detached = False
            if detach is not None:
                data, detached = detach.feed(data)
            stdin.write(data)
            await stdin.drain()
            if detached:
                return
        if stdin is not None and stdin.can_write_eof():
            stdin.write_eof()
        transport = request.transport
        while transport is not None and not transport.is_closing():
            await asyncio.sleep(0.5)  # half-closed: output may still come

    async def downstream() -> None:
        if streams is None:
            while data := await output.read(65536):
                await resp.write(data)
            return
        try:
            while True:
                header = await output.readexactly(8)
                data = await output.readexactly(int.from_bytes(header[4:], "big"))
                if header[0] in streams:
                    await resp.write(header + data)
        except asyncio.IncompleteReadError:
            pass

    tasks = [asyncio.create_task(downstream()), asyncio.create_task(upstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, ConnectionResetError, BrokenPipeError, OSError):
                pass
