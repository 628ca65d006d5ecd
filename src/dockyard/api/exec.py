"""Exec endpoints: create, start (hijacked, or detached), inspect, resize.

The service runs the process with the file descriptors it is given; the server hands it
pipes and relays them over the hijacked connection: stdout and stderr as stdcopy frames
(one pipe each, so they stay apart), or one raw stream with a TTY.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

from aiohttp import web

from dockyard.api import version
from dockyard.containers import detachkeys
from dockyard.api.hijack import hijack
from dockyard.api.requests import blocking, body, engine, ok, terminal_size
from dockyard.api.streams import STDERR, STDOUT, frame
from dockyard.errors import DockyardError

routes = web.RouteTableDef()


@routes.post(version.path("/containers/{id}/exec"))
async def exec_create(request: web.Request) -> web.Response:
    doc = await body(request)
    exec_id = await blocking(engine(request).containers.exec_create, request.match_info["id"], doc)
    return ok({"Id": exec_id}, status=201)


@routes.get(version.path("/exec/{id}/json"))
async def exec_inspect(request: web.Request) -> web.Response:
    return ok(await blocking(engine(request).containers.exec_inspect, request.match_info["id"]))


@routes.post(version.path("/exec/{id}/resize"))
async def exec_resize(request: web.Request) -> web.Response:
    h, w = terminal_size(request)
    await blocking(engine(request).containers.exec_resize, request.match_info["id"], h, w)
    return web.Response(status=200)


async def _relay(fd: int, out: web.StreamResponse, stream: int | None) -> None:
    """Copy a pipe to the client until its writers are gone; framed unless `stream` is None."""
    loop = asyncio.get_running_loop()
    try:
        while data := await loop.run_in_executor(None, os.read, fd, 65536):
            await out.write(data if stream is None else frame(stream, data))
    finally:
        os.close(fd)


async def _feed(request: web.Request, client: asyncio.StreamReader, fd: int, detach) -> None:
    """Copy the client's bytes to the process's stdin (its EOF closes the pipe) until the
    client types the detach keys: then its connection ends and the process runs on."""
    loop = asyncio.get_running_loop()
    try:
        while data := await client.read(65536):
            detached = False
            if detach is not None:
                data, detached = detach.feed(data)
            await loop.run_in_executor(None, os.write, fd, data)
            if detached:
                request.transport.close()
                return
    except OSError:  # the process closed its stdin
        pass
    finally:
        os.close(fd)


async def _carry_pty(request: web.Request, master: int, out: web.StreamResponse, client: asyncio.StreamReader,
                     stream: int | None, detach) -> None:
    """Relay a TTY exec's terminal both ways until the process side closes it."""
    feeder = asyncio.create_task(_feed(request, client, os.dup(master), detach))
    try:
        await _relay(master, out, stream)
    except OSError:  # EIO: the last process holding the terminal is gone
        pass
    finally:
        feeder.cancel()


@routes.post(version.path("/exec/{id}/start"))
async def exec_start(request: web.Request) -> web.StreamResponse:
    """The process gets a terminal if the exec was created with Tty; the output is framed
    unless the start request says Tty (as dockerd decides the two separately)."""
    doc = await body(request, required=False)
    svc = engine(request).containers
    exec_id = request.match_info["id"]
    await blocking(svc.execs.startable, exec_id)  # 404 and a container's 409 come before the attach
    info = await blocking(svc.exec_inspect, exec_id)
    if doc.get("Detach"):
        await blocking(svc.exec_start, exec_id, detach=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return web.Response(status=200)
    framed = not doc.get("Tty")
    tty = info["ProcessConfig"].get("tty")
    detach = detachkeys.watch_shown(info["DetachKeys"]) if tty and info.get("OpenStdin") else None
    resp, client = await hijack(request, multiplexed=framed)
    loop = asyncio.get_running_loop()
    if tty:
        def on_pty(master: int) -> None:  # called on a service thread; the exec waits for it
            asyncio.run_coroutine_threadsafe(
                _carry_pty(request, os.dup(master), resp, client, STDOUT if framed else None, detach), loop).result()

        try:
            await blocking(svc.exec_start, exec_id, on_pty=on_pty, console_size=doc.get("ConsoleSize"))
        except DockyardError as e:  # Docker's words go to the stream (its stdout), the code to exec inspect
            text = f"{e.message}\r\n".encode()
            await resp.write(frame(STDOUT, text) if framed else text)
        return resp
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if info.get("OpenStdin") else (subprocess.DEVNULL, None)
    relays = [asyncio.create_task(_relay(out_r, resp, STDOUT if framed else None)),
              asyncio.create_task(_relay(err_r, resp, STDERR if framed else None))]
    feeder = asyncio.create_task(_feed(request, client, in_w, detach)) if in_w is not None else None
    try:
        await blocking(svc.exec_start, exec_id, stdin=in_r, stdout=out_w, stderr=err_w)
    except DockyardError as e:  # as above
        os.write(out_w, f"{e.message}\r\n".encode())
    finally:
        for fd in (out_w, err_w, in_r):
            if fd != subprocess.DEVNULL:
                os.close(fd)
        await asyncio.gather(*relays, return_exceptions=True)
        if feeder is not None:
            feeder.cancel()
    return resp
