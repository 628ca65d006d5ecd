"""The CRI's streaming server: the URLs Exec, Attach and PortForward answer with, served as the
kubelet's clients expect them, over WebSocket with Kubernetes' channel protocols.

Each URL holds a one-use token that expires after a minute (as the kubelet's streaming server
keeps them). A connection chooses a subprotocol: `v5.channel.k8s.io`, `v4.channel.k8s.io` or
`channel.k8s.io` (binary frames) and their `base64.` forms (text frames). Every message starts
with its channel: 0 stdin, 1 stdout, 2 stderr, 3 the error channel (v4 and later: a
metav1.Status JSON at the end, with the exit code), 4 terminal resizes (`{"Width", "Height"}`);
v5 adds 255, the client's "this channel is closed" (stdin's EOF). Port forwarding uses one
channel pair per port (data 2i, error 2i+1), each opened by the server with the port number as
two little-endian bytes. SPDY, the older transport, is refused with a clear error: no
maintained Python implementation of it exists.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import socket
import struct
import threading
import time

from dockyard.errors import DockyardError, InvalidArgument

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io",
             "base64.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TOKEN_TTL = 60.0


class Tokens:
    """One-use tokens for the requests Exec, Attach and PortForward answered."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str, dict]] = {}
        self._lock = threading.Lock()

    def issue(self, kind: str, request: dict) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            now = time.monotonic()
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            self._items[token] = (now + TOKEN_TTL, kind, request)
        return token

    def take(self, kind: str, token: str) -> dict | None:
        with self._lock:
            item = self._items.pop(token, None)
        if item is None or item[0] < time.monotonic() or item[1] != kind:
            return None
        return item[2]


def _status(code: int, cmd: list[str] | None) -> bytes:
    if code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    what = f"error executing command {cmd}, exit code {code}" if cmd else f"exit code {code}"
    return json.dumps({"metadata": {}, "status": "Failure",
                       "message": f"command terminated with non-zero exit code: {what}",
                       "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}).encode()


class Channels:
    """A WebSocket speaking one of the channel protocols."""

    def __init__(self, ws, protocol: str) -> None:
        self.ws, self.protocol = ws, protocol
        self.text = "base64" in protocol
        self.version = 5 if protocol.startswith("v5") else 4 if protocol.startswith("v4") else 1

    async def send(self, channel: int, data: bytes) -> None:
        if self.ws.closed:
            return
        if self.text:
            await self.ws.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
        else:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def finish(self, code: int | None, cmd: list[str] | None = None, error: str = "") -> None:
        """The error channel's last word, then the close."""
        if self.version >= 4:
            if error:
                doc = {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError"}
                await self.send(ERROR, json.dumps(doc).encode())
            elif code is not None:
                await self.send(ERROR, _status(code, cmd))
        elif error or code:
            await self.send(ERROR, (error or f"command terminated with non-zero exit code: {code}").encode())
        await self.ws.close()

    async def messages(self):
        """(channel, data) the client sends, until it goes away."""
        from aiohttp import WSMsgType
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY and msg.data:
                yield msg.data[0], bytes(msg.data[1:])
            elif msg.type == WSMsgType.TEXT and msg.data:
                try:
                    yield ord(msg.data[0]) - ord("0"), base64.b64decode(msg.data[1:])
                except ValueError:
                    continue
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                return


def _size(data: bytes) -> tuple[int, int] | None:
    try:
        doc = json.loads(data)
        return int(doc["Height"]), int(doc["Width"])
    except (ValueError, KeyError, TypeError):
        return None


async def _pump_fd(fd: int, chans: Channels, channel: int) -> None:
    """A pipe or pty master to a channel until its writers are gone."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                data = await loop.run_in_executor(None, os.read, fd, 65536)
            except OSError:  # EIO: a pty whose last process is gone
                return
            if not data:
                return
            await chans.send(channel, data)
    finally:
        os.close(fd)


class Server:
    """The aiohttp app, run on its own loop in a thread of `cri serve`."""

    def __init__(self, engine, workloads, sandboxes, address: str = "127.0.0.1:0") -> None:
        self.engine, self.workloads, self.sandboxes = engine, workloads, sandboxes
        self.tokens = Tokens()
        host, _, port = address.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port or 0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = None

    # -- URLs for the RPCs ---------------------------------------------------------------------
    def url(self, kind: str, request: dict) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/{kind}/{self.tokens.issue(kind, request)}"

    # -- life -------------------------------------------------------------------------------
    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start())
            except BaseException as e:  # reported to start()'s caller
                failure.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="cri-streaming", daemon=True).start()
        ready.wait(30)
        if failure:
            raise DockyardError(f"cannot start the streaming server on {self.host}:{self.port}: {failure[0]}")

    async def _start(self) -> None:
        from aiohttp import web
        app = web.Application()
        app.router.add_get("/exec/{token}", self._exec)
        app.router.add_get("/attach/{token}", self._attach)
        app.router.add_get("/portforward/{token}", self._portforward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    # -- handshakes -------------------------------------------------------------------------
    async def _open(self, request, kind: str):
        """(request the token stood for, Channels), or an HTTP error response."""
        from aiohttp import web
        wanted = self.tokens.take(kind, request.match_info["token"])
        if wanted is None:
            return None, web.Response(status=404, text=f"unknown or expired {kind} token\n")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return None, web.Response(status=400, text="only WebSocket streaming is served (SPDY is not): "
                                                        f"use one of {', '.join(PROTOCOLS)}\n")
        asked = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        chosen = next((p for p in asked if p in PROTOCOLS), None)
        if chosen is None:
            return None, web.Response(status=400, text=f"no supported subprotocol: offer one of {', '.join(PROTOCOLS)}\n")
        ws = web.WebSocketResponse(protocols=[chosen], heartbeat=30)
        await ws.prepare(request)
        return wanted, Channels(ws, chosen)

    # -- exec -------------------------------------------------------------------------------
    async def _exec(self, request):
        wanted, chans = await self._open(request, "exec")
        if wanted is None:
            return chans
        svc = self.engine.containers
        loop = asyncio.get_running_loop()
        cmd, tty = wanted["cmd"], wanted["tty"]
        try:
            eid = await loop.run_in_executor(None, svc.exec_create, wanted["container_id"], {
                "Cmd": cmd, "Tty": tty, "AttachStdin": wanted["stdin"], "OpenStdin": wanted["stdin"],
                "AttachStdout": True, "AttachStderr": True})
        except DockyardError as e:
            await chans.finish(None, error=e.message)
            return chans.ws
        code, error = None, ""
        try:
            if tty:
                code = await self._exec_tty(chans, svc, eid, loop)
            else:
                code = await self._exec_pipes(chans, svc, eid, loop, wanted["stdin"])
        except DockyardError as e:
            error = e.message
        await chans.finish(code, cmd, error)
        return chans.ws

    async def _exec_pipes(self, chans: Channels, svc, eid: str, loop, stdin: bool) -> int:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if stdin else (os.open(os.devnull, os.O_RDONLY), None)
        pumps = [asyncio.ensure_future(_pump_fd(out_r, chans, STDOUT)),
                 asyncio.ensure_future(_pump_fd(err_r, chans, STDERR))]
        feeder = asyncio.ensure_future(self._feed(chans, in_w, None)) if in_w is not None else None
        try:
            return await loop.run_in_executor(None, lambda: svc.exec_start(eid, stdin=in_r, stdout=out_w, stderr=err_w))
        finally:
            for fd in (out_w, err_w, in_r):
                os.close(fd)
            await asyncio.gather(*pumps, return_exceptions=True)
            if feeder is not None:
                feeder.cancel()

    async def _exec_tty(self, chans: Channels, svc, eid: str, loop) -> int:
        def on_pty(master: int) -> None:  # on a service thread; the exec waits for it
            asyncio.run_coroutine_threadsafe(self._carry_pty(chans, os.dup(master), svc, eid), loop).result()
        return await loop.run_in_executor(None, lambda: svc.exec_start(eid, on_pty=on_pty))

    async def _carry_pty(self, chans: Channels, master: int, svc, eid: str) -> None:
        feeder = asyncio.ensure_future(self._feed(chans, os.dup(master), lambda h, w: svc.exec_resize(eid, h, w)))
        try:
            await _pump_fd(master, chans, STDOUT)
        finally:
            feeder.cancel()

    async def _feed(self, chans: Channels, fd: int | None, resize) -> None:
        """The client's stdin to `fd` (closed at its EOF: v5's CLOSE, or the socket's end) and
        its resizes to `resize(h, w)`."""
        loop = asyncio.get_running_loop()
        try:
            async for channel, data in chans.messages():
                if channel == STDIN and fd is not None and data:
                    try:
                        await loop.run_in_executor(None, os.write, fd, data)
                    except OSError:
                        os.close(fd)
                        fd = None
                elif channel == RESIZE and resize is not None and (size := _size(data)):
                    try:
                        await loop.run_in_executor(None, resize, *size)
                    except DockyardError:
                        pass
                elif channel == CLOSE and data[:1] == bytes([STDIN]) and fd is not None:
                    os.close(fd)
                    fd = None
        finally:
            if fd is not None:
                os.close(fd)

    # -- attach -----------------------------------------------------------------------------
    async def _attach(self, request):
        wanted, chans = await self._open(request, "attach")
        if wanted is None:
            return chans
        svc = self.engine.containers
        loop = asyncio.get_running_loop()
        cid, tty = wanted["container_id"], wanted["tty"]
        try:
            path = await loop.run_in_executor(None, svc.attach_socket, cid)
            reader, writer = await asyncio.open_unix_connection(path)
        except (DockyardError, OSError) as e:
            await chans.finish(None, error=getattr(e, "message", str(e)))
            return chans.ws

        async def inbound() -> None:
            async for channel, data in chans.messages():
                if channel == STDIN and wanted["stdin"] and data:
                    writer.write(data)
                    await writer.drain()
                elif channel == RESIZE and (size := _size(data)):
                    try:
                        await loop.run_in_executor(None, svc.resize, cid, *size)
                    except DockyardError:
                        pass
                elif channel == CLOSE and data[:1] == bytes([STDIN]) and writer.can_write_eof():
                    writer.write_eof()

        feeder = asyncio.ensure_future(inbound())
        try:
            if tty:  # raw bytes
                while data := await reader.read(65536):
                    await chans.send(STDOUT, data)
            else:  # the shim's stdcopy frames: stream byte, 3 zero bytes, big-endian length
                while True:
                    head = await reader.readexactly(8)
                    data = await reader.readexactly(struct.unpack(">I", head[4:])[0])
                    await chans.send(STDERR if head[0] == 2 else STDOUT, data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            feeder.cancel()
            writer.close()
        await chans.finish(0)
        return chans.ws

    # -- port forwarding --------------------------------------------------------------------
    async def _portforward(self, request):
        wanted, chans = await self._open(request, "portforward")
        if wanted is None:
            return chans
        asked = [p.strip() for v in request.query.getall("ports", []) for p in v.split(",")]
        if not all(p.isdigit() and 0 < int(p) < 65536 for p in asked):
            await chans.finish(None, error=f"invalid port in {','.join(asked)!r}")
            return chans.ws
        ports = [int(p) for p in asked] or list(wanted["ports"])
        if not ports:
            await chans.finish(None, error="no port to forward: give ?ports=N or ports in the request")
            return chans.ws
        loop = asyncio.get_running_loop()
        try:
            netns = await loop.run_in_executor(None, self.sandboxes.netns_of, wanted["pod_sandbox_id"])
            conns = [await loop.run_in_executor(None, _connect_in, netns, port) for port in ports]
        except (DockyardError, OSError) as e:
            await chans.finish(None, error=f"cannot forward: {getattr(e, 'message', e)}")
            return chans.ws
        streams = []
        for i, (port, sock) in enumerate(zip(ports, conns)):
            for ch in (2 * i, 2 * i + 1):
                await chans.send(ch, struct.pack("<H", port))
            reader, writer = await asyncio.open_connection(sock=sock)
            streams.append((reader, writer))

        async def outbound(i: int, reader) -> None:
            while data := await reader.read(65536):
                await chans.send(2 * i, data)

        async def inbound() -> None:
            async for channel, data in chans.messages():
                i = channel // 2
                if channel % 2 == 0 and i < len(streams) and data:
                    streams[i][1].write(data)
                    await streams[i][1].drain()

        # done when the client goes, or when every forwarded connection has ended
        pumps = asyncio.ensure_future(asyncio.gather(*(outbound(i, r) for i, (r, _) in enumerate(streams)),
                                                     return_exceptions=True))
        feeder = asyncio.ensure_future(inbound())
        await asyncio.wait([pumps, feeder], return_when=asyncio.FIRST_COMPLETED)
        for task in (pumps, feeder):
            task.cancel()
        for _, w in streams:
            w.close()
        await chans.ws.close()
        return chans.ws


def _connect_in(netns: str | None, port: int) -> socket.socket:
    """A TCP connection to the pod's localhost:port, made inside its network namespace (the
    host's for a host-network pod)."""
    def connect() -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setblocking(False)
        return s
    if netns is None:
        return connect()
    from dockyard.network.netns import run_in
    return run_in(netns, connect)


def check_exec(req) -> dict:
    if not req.cmd:
        raise InvalidArgument("Exec needs a command")
    if not (req.stdout or req.stderr or req.stdin):
        raise InvalidArgument("one of stdin, stdout and stderr must be set")
    if req.tty and req.stderr:
        raise InvalidArgument("tty and stderr cannot both be true")
    return {"container_id": req.container_id, "cmd": list(req.cmd), "tty": req.tty, "stdin": req.stdin}
