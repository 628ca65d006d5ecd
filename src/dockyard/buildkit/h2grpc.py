"""gRPC over an HTTP/2 connection the Engine API has already accepted (POST /grpc, /session).

dockerd answers those requests `101` and from then on speaks h2c on the same socket: as the
server on /grpc (the client calls moby.buildkit.v1.Control), as the client on /session (the
engine calls the services the client exposes: file sync, auth, secrets). grpcio's server only
listens on addresses of its own and cannot be given a connection aiohttp already holds, so this
module drives the `h2` library's state machine over the asyncio transport, with gRPC's framing
(a 5-byte prefix: compressed flag and length) and its status trailers.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Awaitable, Callable
from urllib.parse import quote, unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

log = logging.getLogger("dockyard.buildkit")

# gRPC status codes (google.rpc.Code)
CANCELLED, UNKNOWN, INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, INTERNAL, UNAVAILABLE = 1, 2, 3, 5, 12, 13, 14
MAX_MESSAGE = 64 << 20


class GrpcError(Exception):
    """A call that ends with a non-OK status, either way round."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Stream:
    """One call: gRPC messages in and out, headers (metadata) as received."""

    def __init__(self, conn: "Connection", stream_id: int) -> None:
        self.conn, self.id = conn, stream_id
        self.headers: dict[str, list[str]] = {}
        self.trailers: dict[str, str] = {}
        self._buffer = bytearray()
        self._messages: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.ended = False
        self.cancelled = asyncio.Event()  # the peer reset the stream, or the connection went

    def meta(self, key: str) -> list[str]:
        return self.headers.get(key, [])

    def _data(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 5:
            compressed, length = struct.unpack(">BI", self._buffer[:5])
            if length > MAX_MESSAGE:
                self.conn.reset(self.id)
                self._end()
                return
            if len(self._buffer) < 5 + length:
                break
            message = bytes(self._buffer[5:5 + length])
            del self._buffer[:5 + length]
            if compressed:  # we never advertise an encoding, so a client must not compress
                self.conn.reset(self.id)
                self._end()
                return
            self._messages.put_nowait(message)

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self._messages.put_nowait(None)

    async def recv(self) -> bytes | None:
        """The next message, or None once the peer has finished sending."""
        message = await self._messages.get()
        if message is None:
            self._messages.put_nowait(None)  # stays at the end for later readers
        return message

    async def send(self, message: bytes) -> None:
        await self.conn.send_data(self.id, struct.pack(">BI", 0, len(message)) + message)


Handler = Callable[[Stream], Awaitable[None]]


class Connection(asyncio.Protocol):
    """An h2c connection on a transport taken over from aiohttp; `serve` dispatches incoming
    calls to `handlers` (path -> coroutine) on the server side, `call` starts one as a client."""

    def __init__(self, transport: asyncio.Transport, client_side: bool,
                 handlers: dict[str, Handler] | None = None) -> None:
        self.transport = transport
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=client_side,
                                                                      header_encoding="utf-8"))
        self.handlers = handlers or {}
        self.streams: dict[int, Stream] = {}
        self.tasks: set[asyncio.Task] = set()
        self.closed = asyncio.Event()
        self._window = asyncio.Event()
        self._write_ok = asyncio.Event()
        self._write_ok.set()

    def start(self) -> None:
        self.transport.set_protocol(self)
        self.h2.initiate_connection()
        self.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        self.h2.increment_flow_control_window(16 << 20)
        self._flush()

    async def wait_closed(self) -> None:
        await self.closed.wait()
        for task in list(self.tasks):
            task.cancel()

    def close(self) -> None:
        if not self.transport.is_closing():
            try:
                self.h2.close_connection()
                self._flush()
            except h2.exceptions.ProtocolError:
                pass
            self.transport.close()
        self._lost()

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as err:
            log.warning("h2c: %s", err)
            self.close()
            return
        for event in events:
            self._event(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self._write_ok.clear()

    def resume_writing(self) -> None:
        self._write_ok.set()

    def _lost(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for stream in self.streams.values():
            stream.cancelled.set()
            stream._end()
        self._window.set()

    def _flush(self) -> None:
        out = self.h2.data_to_send()
        if out and not self.transport.is_closing():
            self.transport.write(out)

    def _event(self, event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            stream = self.streams[event.stream_id] = Stream(self, event.stream_id)
            stream.headers = _header_map(event.headers)
            task = asyncio.get_running_loop().create_task(self._dispatch(stream))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif isinstance(event, h2.events.ResponseReceived):
            if stream := self.streams.get(event.stream_id):
                stream.headers = _header_map(event.headers)
                if "grpc-status" in stream.headers:  # a trailers-only answer
                    stream.trailers = {k: v[0] for k, v in stream.headers.items()}
        elif isinstance(event, h2.events.TrailersReceived):
            if stream := self.streams.get(event.stream_id):
                stream.trailers = {k: v[0] for k, v in _header_map(event.headers).items()}
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if stream := self.streams.get(event.stream_id):
                stream._data(event.data)
        elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
            if stream := self.streams.get(event.stream_id):
                if isinstance(event, h2.events.StreamReset):
                    stream.cancelled.set()
                    if not stream.trailers:
                        stream.trailers = {"grpc-status": str(CANCELLED), "grpc-message": "stream reset"}
                stream._end()
            self._window.set()
        elif isinstance(event, h2.events.WindowUpdated):
            self._window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.close()

    async def _dispatch(self, stream: Stream) -> None:
        path = stream.headers.get(":path", [""])[0]
        handler = self.handlers.get(path)
        self._send_headers(stream.id, [(":status", "200"), ("content-type", "application/grpc")])
        try:
            if handler is None:
                raise GrpcError(UNIMPLEMENTED, f"unknown method {path} (dockyard serves the BuildKit Control "
                                               "service and the dockerfile.v0 gateway only)")
            await handler(stream)
            self.finish(stream.id, 0, "")
        except GrpcError as err:
            self.finish(stream.id, err.code, err.message)
        except asyncio.CancelledError:
            self.finish(stream.id, CANCELLED, "cancelled")
            raise
        except ConnectionResetError:  # the caller went away: nobody to answer
            log.info("gRPC %s: the client went away", path)
        except Exception as err:  # a bug of ours: the caller still gets an answer
            log.exception("gRPC %s failed", path)
            self.finish(stream.id, INTERNAL, f"{type(err).__name__}: {err}")
        finally:
            self.streams.pop(stream.id, None)

    def _send_headers(self, stream_id: int, headers: list, end: bool = False) -> None:
        if self.closed.is_set():
            return
        try:
            self.h2.send_headers(stream_id, headers, end_stream=end)
        except h2.exceptions.ProtocolError:
            return
        self._flush()

    def finish(self, stream_id: int, code: int, message: str) -> None:
        """The server's end of a call: the status trailers."""
        state = self.h2.streams.get(stream_id)
        if state is None or state.closed:
            return
        trailers = [("grpc-status", str(code))]
        if message:  # percent-encoded, as gRPC wants
            trailers.append(("grpc-message", quote(message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")))
        self._send_headers(stream_id, trailers, end=True)

    def reset(self, stream_id: int) -> None:
        try:
            self.h2.reset_stream(stream_id)
            self._flush()
        except h2.exceptions.ProtocolError:
            pass

    async def send_data(self, stream_id: int, data: bytes, end: bool = False) -> None:
        view = memoryview(data)
        while view:
            if self.closed.is_set():
                raise ConnectionResetError("the connection closed")
            await self._write_ok.wait()
            try:
                window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            except (h2.exceptions.StreamClosedError, KeyError):
                raise ConnectionResetError("the stream closed") from None
            if window <= 0:
                self._window.clear()
                await self._window.wait()
                peer = self.streams.get(stream_id)
                if peer is not None and peer.ended and peer.trailers:  # a call the server has answered
                    raise ConnectionResetError("the call has ended")
                continue
            chunk, view = view[:window], view[window:]
            try:
                self.h2.send_data(stream_id, bytes(chunk), end_stream=end and not view)
            except h2.exceptions.StreamClosedError:
                raise ConnectionResetError("the stream closed") from None
            self._flush()
        if end and not data:
            self.h2.end_stream(stream_id)
            self._flush()

    # the client side (on /session)
    async def call(self, path: str, metadata: dict[str, list[str]] | None = None) -> Stream:
        stream_id = self.h2.get_next_available_stream_id()
        stream = self.streams[stream_id] = Stream(self, stream_id)
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                   ("content-type", "application/grpc"), ("te", "trailers")]
        for key, values in (metadata or {}).items():
            headers += [(key.lower(), v) for v in values]
        self._send_headers(stream_id, headers)
        return stream

    def close_send(self, stream: Stream) -> None:
        try:
            self.h2.end_stream(stream.id)
            self._flush()
        except h2.exceptions.ProtocolError:
            pass

    def status(self, stream: Stream) -> None:
        """Raise the call's error, if it ended with one."""
        code = int(stream.trailers.get("grpc-status", UNAVAILABLE if self.closed.is_set() else UNKNOWN))
        if code:
            text = unquote(stream.trailers.get("grpc-message", "")) or "the session went away"
            raise GrpcError(code, text)

    async def unary(self, path: str, request: bytes, metadata: dict[str, list[str]] | None = None) -> bytes:
        stream = await self.call(path, metadata)
        try:
            await stream.send(request)
            self.close_send(stream)
            reply = await stream.recv()
            while await stream.recv() is not None:
                pass
            self.status(stream)
            if reply is None:
                raise GrpcError(INTERNAL, f"{path}: no reply")
            return reply
        finally:
            self.streams.pop(stream.id, None)


def _header_map(headers) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in headers:
        out.setdefault(key, []).append(value)
    return out
