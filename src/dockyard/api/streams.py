"""What streaming endpoints send: docker's JSON message lines and stdcopy frames.

Pull, push, load and build answer with a stream of JSON objects (`{"status", "id",
"progressDetail", "progress"}`, `{"stream"}`, `{"aux"}`, `{"errorDetail", "error"}`), which
the docker CLI renders as its bars and lines; an error after the 200 went out can only be
told in-band. Engine work runs in a worker thread and hands messages to the event loop
through a queue, so a slow client never blocks the engine and the engine never blocks the loop.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
import time
from typing import Any, Callable

from aiohttp import web

from dockyard.builder.progress import Progress as BuildProgress, Step
from dockyard.errors import DockyardError
from dockyard.oci.digest import short_id

Emit = Callable[[dict], None]
STDIN, STDOUT, STDERR = 0, 1, 2
_DONE = object()


def frame(stream: int, data: bytes) -> bytes:
    """Docker's stdcopy framing: [stream, 0, 0, 0, big-endian length] then the payload."""
    return struct.pack(">BxxxL", stream, len(data)) + data


class BodyReader(io.RawIOBase):
    """The request body as a blocking file for engine code running in a worker thread."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        self.content, self.loop = request.content, loop
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if not self._pending:
            self._pending = asyncio.run_coroutine_threadsafe(self.content.readany(), self.loop).result()
            if not self._pending:
                return 0
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class ResponseWriter(io.RawIOBase):
    """A streaming response as a blocking file for engine code running in a worker thread:
    headers go out with the first byte (so a failure before it is still a proper error
    status), and every write waits for the client, which throttles the engine to its pace."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop, headers: dict[str, str]) -> None:
        self.request, self.loop = request, loop
        self.response = web.StreamResponse(headers=headers)

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        data = bytes(b)
        if data:
            asyncio.run_coroutine_threadsafe(self._send(data), self.loop).result()
        return len(data)

    async def _send(self, data: bytes) -> None:
        if not self.response.prepared:
            await self.response.prepare(self.request)
        await self.response.write(data)


async def stream_out(request: web.Request, work: Callable[[ResponseWriter], object],
                     headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Run `work(out)` in a thread, streaming what it writes as the response body (a tar
    unless `headers` say otherwise)."""
    writer = ResponseWriter(request, asyncio.get_running_loop(), {"Content-Type": "application/x-tar", **(headers or {})})
    try:
        await asyncio.to_thread(work, writer)
    except DockyardError:
        if not writer.response.prepared:
            raise
        request.transport.close()  # mid-stream: all that is left is to cut the body short
        return writer.response
    if not writer.response.prepared:
        await writer.response.prepare(request)
    await writer.response.write_eof()
    return writer.response


def error_message(message: str) -> dict:
    return {"errorDetail": {"message": message}, "error": message}


async def json_stream(request: web.Request, work: Callable[[Emit], object], *,
                      content_type: str = "application/json") -> web.StreamResponse:
    """Run `work(emit)` in a thread, sending each emitted message as a JSON line as it comes.

    A DockyardError raised before anything was sent becomes an ordinary error response (so the
    client sees the status code); after that it is sent in-band as `errorDetail`."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    outcome: dict[str, Any] = {}

    def emit(msg: dict) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, msg)

    def run() -> None:
        try:
            work(emit)
        except BaseException as e:  # handed to the loop, raised or reported there
            outcome["error"] = e
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    threading.Thread(target=run, name="api-stream", daemon=True).start()
    first = await queue.get()
    if first is _DONE and isinstance(outcome.get("error"), DockyardError):
        raise outcome["error"]
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    await resp.prepare(request)
    msg = first
    while msg is not _DONE:
        await resp.write(json.dumps(msg).encode() + b"\r\n")
        msg = await queue.get()
    err = outcome.get("error")
    if err is not None:
        text = err.message if isinstance(err, DockyardError) else f"internal error: {type(err).__name__}: {err}"
        await resp.write(json.dumps(error_message(text)).encode() + b"\r\n")
    await resp.write_eof()
    return resp


def _bar(current: int, total: int | None) -> str:
    """The `[=====>     ]  1.2MB/3.4MB` text docker puts in `progress`."""
    def size(n: float) -> str:
        for unit in ("B", "kB", "MB", "GB"):
            if n < 1000 or unit == "GB":
                return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
            n /= 1000
        return f"{n}"
    if not total:
        return f"{size(current)}"
    width = 50
    filled = min(width, current * width // total)
    arrow = ">" if filled < width else ""
    return f"[{'=' * filled}{arrow}{' ' * (width - filled - len(arrow))}] {size(current)}/{size(total)}"


class JSONProgress:
    """The distribution Progress protocol as docker's JSON messages (throttled per blob)."""

    INTERVAL = 0.1

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self._state: dict[str, list] = {}   # digest -> [status, current, total, last sent]
        self._lock = threading.Lock()

    def _send(self, digest: str, status: str, current: int | None = None, total: int | None = None) -> None:
        msg: dict[str, Any] = {"status": status, "progressDetail": {}, "id": short_id(digest)}
        if current is not None:
            msg["progressDetail"] = {"current": current, **({"total": total} if total else {})}
            msg["progress"] = _bar(current, total)
        self.emit(msg)

    def start(self, digest: str, status: str, total: int | None, completed: int = 0) -> None:
        with self._lock:
            self._state[digest] = [status, completed, total, time.monotonic()]
        self._send(digest, status, completed, total)

    def advance(self, digest: str, nbytes: int) -> None:
        with self._lock:
            st = self._state.get(digest)
            if st is None:
                return
            st[1] += nbytes
            now = time.monotonic()
            if now - st[3] < self.INTERVAL:
                return
            st[3] = now
            status, current, total = st[0], st[1], st[2]
        self._send(digest, status, current, total)

    def finish(self, digest: str, status: str) -> None:
        self._send(digest, status)


class BuildStream(BuildProgress):
    """The builder's progress as the classic builder's `stream` messages: `Step 2/3 : RUN ...`,
    ` ---> Running in ID`, what the command writes (stderr in red, as dockerd marks it),
    ` ---> Removed intermediate container ID`, ` ---> Using cache`, ` ---> IMAGE`, and each
    stage's image in an `aux` message. Steps without a label (ONBUILD triggers, run under
    their FROM) print no header and no image ID."""

    RED, RESET = "\033[91m", "\033[0m"

    def __init__(self, emit: Emit, gone: Callable[[], bool] = lambda: False) -> None:
        super().__init__()
        self.emit, self.gone = emit, gone

    def cancelled(self) -> bool:
        return self.gone()

    def output(self, step: Step, data: bytes, stream: int = 1) -> None:
        text = data.decode("utf-8", "replace")
        self.emit({"stream": f"{self.RED}{text}{self.RESET}" if stream == 2 else text})

    def warning(self, title: str, text: str) -> None:
        self.emit({"stream": text + "\n"})

    def stage_built(self, image_id: str) -> None:
        self.emit({"aux": {"ID": image_id}})

    def container(self, step: Step, container_id: str, removed: bool = False) -> None:
        short = container_id.removeprefix("build-")[:12]
        text = f"Removed intermediate container {short}" if removed else f"Running in {short}"
        self.emit({"stream": f" ---> {text}\n"})

    def _started(self, step: Step) -> None:
        if step.label:
            self.emit({"stream": step.label + "\n"})

    def _finished(self, step: Step, message: str) -> None:
        if step.status == "cached":
            self.emit({"stream": " ---> Using cache\n"})
        if step.status != "error" and step.label:
            self.emit({"stream": f" ---> {message}\n"})
