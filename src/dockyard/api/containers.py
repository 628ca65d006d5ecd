"""Container endpoints, over the engine's ContainerService.

Two of them need care beyond translating parameters:
- `attach` before `start` (what `docker run` does): the client is held until the start
  request arrives, which then starts the container already attached (`start(attach=True)`),
  so not a byte of output is missed.
- `wait`: the response headers go out as soon as the wait is in place (the docker CLI starts
  the container only after it sees them) and the JSON when the condition is met.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

from aiohttp import web

from dockyard.api import containercache, version
from dockyard.api.containercache import CACHE, json_response
from dockyard.containers import detachkeys
from dockyard.api.hijack import MULTIPLEXED, RAW, hijack, pipe
from dockyard.api.requests import ENGINE, blocking, body, engine, filters, flag, integer, no_content, ok, terminal_size
from dockyard.api.streams import STDERR, STDOUT, BodyReader, frame, stream_out
from dockyard.errors import DockyardError, InvalidArgument, NotFound

routes = web.RouteTableDef()
# what tools poll: registered before every other route (app.py), as the router tries the
# routes one by one in that order (all are patterns: the version prefix is optional)
polled = web.RouteTableDef()
# container id -> futures of attach requests waiting for the container to start
WAITING_ATTACH = web.AppKey("waiting_attach", dict)
ID = "/containers/{id}"


def _ref(request: web.Request) -> str:
    return request.match_info["id"]


def _service(request: web.Request):
    return engine(request).containers


@polled.get(version.path("/containers/json"))
async def list_containers(request: web.Request) -> web.Response:
    from dockyard.containers.views import sizes
    svc, cache = _service(request), request.app[CACHE]
    show_all, limit, wanted = flag(request, "all"), integer(request, "limit", -1), filters(request)
    with_size = flag(request, "size")

    def build() -> tuple[bytes, float] | containercache.ClockedList:
        cache.follow(svc.store.all())
        found = svc.list(all=show_all or limit > 0, filters=wanted or None)
        if limit > 0:
            found = found[:limit]
        rows = [{**svc.summary(c), **(sizes(svc, c) if with_size else {})} for c in found]
        if with_size:  # sizes change unseen: never kept
            return json.dumps(rows).encode(), 0.0
        return containercache.ClockedList(rows, found)
    return json_response(await cache.body(("list", request.query_string), build))


@routes.post(version.path("/containers/create"))
async def create(request: web.Request) -> web.Response:
    doc = await body(request)
    name = request.query.get("name") or None
    if doc.get("Runtime") and not (doc.get("HostConfig") or {}).get("Runtime"):
        # docker-py sends create_container(runtime=...) beside HostConfig, where dockerd ignores
        # it (and runs its default, runc): the runtime asked for is the one run here
        doc["HostConfig"] = {**(doc.get("HostConfig") or {}), "Runtime": doc["Runtime"]}
    endpoints = list(((doc.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}))
    if len(endpoints) > 1 and version.older(request, "1.44"):  # joining several at create came with 1.44
        raise InvalidArgument(f"Container cannot be connected to network endpoints: {', '.join(endpoints)}")
    svc = _service(request)
    warnings: list[str] = []
    c = await blocking(svc.create, doc, name, warnings, request.query.get("platform") or None)
    return ok({"Id": c.id, "Warnings": warnings}, status=201)


@polled.get(version.path(ID + "/json"))
async def inspect(request: web.Request) -> web.Response:
    svc, ref = _service(request), _ref(request)
    older = version.older(request, "1.45")
    if flag(request, "size"):
        return ok(await blocking(_inspect_with_size, svc, ref, older))
    cache = request.app[CACHE]

    def build() -> tuple[bytes, float]:
        cache.follow([svc.store.get(ref)])
        return json.dumps(_inspect(svc, ref, older)).encode(), float("inf")
    return json_response(await cache.body(("inspect", ref, older), build))


def _inspect(svc, ref: str, older: bool) -> dict:
    doc = svc.inspect(ref)
    if older:  # before 1.45 (DNSNames) aliases also held the short ID and hostname
        for name, es in (doc["NetworkSettings"]["Networks"] or {}).items():
            if name not in ("bridge", "host", "none"):
                es["Aliases"] = list(dict.fromkeys([*(es.get("Aliases") or []), doc["Id"][:12],
                                                    doc["Config"].get("Hostname") or doc["Id"][:12]]))
    return doc


def _inspect_with_size(svc, ref: str, older: bool) -> dict:
    from dockyard.containers.views import sizes
    doc = _inspect(svc, ref, older)
    return {**doc, **sizes(svc, svc.get(doc["Id"]))}


@routes.post(version.path(ID + "/start"))
async def start(request: web.Request) -> web.Response:
    svc = _service(request)
    c = await blocking(svc.get, _ref(request))
    if c.running:
        return web.Response(status=304)
    waiting = request.app[WAITING_ATTACH].get(c.id) or []
    try:
        sock = await blocking(svc.start, c.id, attach=bool(waiting))
    except DockyardError:
        if c.host_config.get("AutoRemove"):  # as Docker does: the `run --rm` client waits for it
            await blocking(svc.remove, c.id, force=True, volumes=True)
        raise
    if not waiting:
        return no_content()
    first, *others = waiting
    request.app[WAITING_ATTACH].pop(c.id, None)
    if first.done():
        sock.close()
    else:
        first.set_result(sock)
    for fut in others:
        if not fut.done():
            fut.set_result(None)  # they attach to the running container the ordinary way
    return no_content()


@routes.post(version.path(ID + "/stop"))
async def stop(request: web.Request) -> web.Response:
    svc = _service(request)
    c = await blocking(svc.get, _ref(request))
    if not c.running:
        return web.Response(status=304)
    await blocking(svc.stop, c.id, integer(request, "t"))
    return no_content()


@routes.post(version.path(ID + "/restart"))
async def restart(request: web.Request) -> web.Response:
    await blocking(_service(request).restart, _ref(request), integer(request, "t"))
    return no_content()


@routes.post(version.path(ID + "/kill"))
async def kill(request: web.Request) -> web.Response:
    await blocking(_service(request).kill, _ref(request), request.query.get("signal") or "KILL")
    return no_content()


@routes.post(version.path(ID + "/pause"))
async def pause(request: web.Request) -> web.Response:
    await blocking(_service(request).pause, _ref(request))
    return no_content()


@routes.post(version.path(ID + "/unpause"))
async def unpause(request: web.Request) -> web.Response:
    await blocking(_service(request).unpause, _ref(request))
    return no_content()


@routes.post(version.path(ID + "/rename"))
async def rename(request: web.Request) -> web.Response:
    new = request.query.get("name")
    if not new:
        raise InvalidArgument("name is required: the container's new name")
    await blocking(_service(request).rename, _ref(request), new)
    return no_content()


@routes.post(version.path(ID + "/update"))
async def update(request: web.Request) -> web.Response:
    doc = await body(request)
    warnings = await blocking(_service(request).update, _ref(request), doc)
    return ok({"Warnings": warnings or []})


@routes.post(version.path(ID + "/resize"))
async def resize(request: web.Request) -> web.Response:
    h, w = terminal_size(request)
    await blocking(_service(request).resize, _ref(request), h, w)
    return web.Response(status=200)


@routes.delete(version.path("/containers/{id:.+}"))  # a link's name has slashes: /parent/alias
async def remove(request: web.Request) -> web.Response:
    if flag(request, "link"):
        from dockyard.containers import links
        await blocking(links.remove, _service(request), _ref(request))
        return no_content()
    await blocking(_service(request).remove, _ref(request), force=flag(request, "force"), volumes=flag(request, "v"))
    return no_content()


@routes.post(version.path("/containers/prune"))
async def prune(request: web.Request) -> web.Response:
    removed, freed = await blocking(_service(request).prune, filters(request) or None)
    return ok({"ContainersDeleted": removed or None, "SpaceReclaimed": freed})


def _wait_next_exit(svc, cid: str, before: dict) -> int:
    """`next-exit` measured from when the request came (`before` is the state then): the
    container must have started since (the CLI may start it, and it may even finish, before
    a wait begins), or failed to start, which records its error and code, or ended the run
    it was in then. The service's wait answers once that exit is recorded for good."""
    while True:
        if svc.get(cid).state != before:
            return svc.wait(cid, "not-running")
        time.sleep(0.02)


@routes.post(version.path(ID + "/wait"))
async def wait(request: web.Request) -> web.StreamResponse:
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidArgument(f"invalid condition: {condition!r}: use not-running, next-exit or removed")
    svc = _service(request)
    c = await blocking(svc.get, _ref(request))
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    error = None
    try:
        if condition == "next-exit":
            code = await blocking(_wait_next_exit, svc, c.id, dict(c.state))
        else:
            code = await blocking(svc.wait, c.id, condition)
    except NotFound:
        code = c.state["ExitCode"]
    except Exception as e:  # the 200 is gone: the error can only travel in the body
        code, error = -1, {"Message": getattr(e, "message", str(e))}
    await resp.write(json.dumps({"StatusCode": code, "Error": error}).encode() + b"\n")
    await resp.write_eof()
    return resp


def _tail(request: web.Request) -> str:
    """How many lines `tail` asks for; as with dockerd, anything but a count (`all`, `-1`, garbage) is all."""
    value = request.query.get("tail", "")
    return value if value.isdigit() else "all"


@routes.get(version.path(ID + "/logs"))
async def logs(request: web.Request) -> web.StreamResponse:
    from dockyard.api.events import parse_time

    stdout, stderr = flag(request, "stdout"), flag(request, "stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    svc = _service(request)
    c = await blocking(svc.get, _ref(request))
    now = time.time()
    since = parse_time(request.query["since"], now) if request.query.get("since") else 0.0
    until = parse_time(request.query["until"], now) if request.query.get("until") else 0.0
    timestamps, details, tty = flag(request, "timestamps"), flag(request, "details"), bool(c.config.get("Tty"))
    entries = await blocking(svc.logs, c.id, stdout=stdout, stderr=stderr, since=since, until=until,
                             timestamps=timestamps, tail=_tail(request),
                             follow=flag(request, "follow"))
    resp = web.StreamResponse(headers={"Content-Type": RAW if tty else MULTIPLEXED})
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    done = object()
    iterator = iter(entries)
    while (entry := await loop.run_in_executor(None, next, iterator, done)) is not done:
        stream, stamp, data = entry
        if details:  # the entry's extra attributes (dockyard's logs carry none), then a space
            data = b" " + data
        if timestamps:
            data = stamp.encode() + b" " + data
        await resp.write(data if tty else frame(STDERR if stream == "stderr" else STDOUT, data))
    await resp.write_eof()
    return resp


async def _attach_socket(request: web.Request, cid: str, running: bool):
    """Reader and writer of the container's attach socket; for a container that has not
    started yet, wait for the start request to hand one over."""
    svc = _service(request)
    if not running:
        fut = asyncio.get_running_loop().create_future()
        request.app[WAITING_ATTACH].setdefault(cid, []).append(fut)
        try:
            sock = await fut
        finally:
            waiting = request.app[WAITING_ATTACH].get(cid)
            if waiting and fut in waiting:
                waiting.remove(fut)
        if sock is not None:
            return await asyncio.open_unix_connection(sock=sock)
    path = await blocking(svc.attach_socket, cid)
    return await asyncio.open_unix_connection(path)


@routes.post(version.path(ID + "/attach"))
async def attach(request: web.Request) -> web.StreamResponse:
    svc = _service(request)
    c = await blocking(svc.get, _ref(request))
    tty = bool(c.config.get("Tty"))
    # a stopped container's stream is waited for, created or exited, as dockerd does: `start -a`
    # attaches first (`docker attach` refuses a stopped container itself)
    detach = detachkeys.watch(request.query.get("detachKeys")) if tty else None  # docker watches a TTY's input
    resp, client = await hijack(request, multiplexed=not tty)
    # the streams asked for (`docker run -a stdout` asks for one): a TTY's output is all stdout
    wanted = frozenset(n for n, name in ((STDOUT, "stdout"), (STDERR, "stderr")) if flag(request, name))
    if flag(request, "logs"):
        try:
            entries = await blocking(lambda: list(svc.logs(c.id)))
        except DockyardError as e:  # a driver that keeps nothing: dockerd's words on the attached stream
            text = f"Error attaching: {e.message}\n".encode()
            await resp.write(text if tty else frame(STDOUT, text))
            return resp
        for stream, _, data in entries:
            number = STDERR if stream == "stderr" and not tty else STDOUT
            if number in wanted:
                await resp.write(data if tty else frame(number, data))
    if flag(request, "stream"):
        reader, writer = await _attach_socket(request, c.id, c.running)
        try:
            await pipe(request, resp, client, reader, writer if flag(request, "stdin") else None, detach,
                       streams=None if tty or len(wanted) == 2 else wanted)
        finally:
            writer.close()
    return resp


@routes.get(version.path(ID + "/attach/ws"))
async def attach_ws(request: web.Request) -> web.WebSocketResponse:
    """The websocket flavour: binary messages each way, raw (never multiplexed) output."""
    svc = _service(request)
    c = await blocking(svc.get, _ref(request))
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    reader, writer = await _attach_socket(request, c.id, c.running)
    tty = bool(c.config.get("Tty"))

    async def upstream() -> None:
        async for msg in ws:
            if msg.type in (web.WSMsgType.BINARY, web.WSMsgType.TEXT) and flag(request, "stdin"):
                writer.write(msg.data if isinstance(msg.data, bytes) else msg.data.encode())
                await writer.drain()

    up = asyncio.create_task(upstream())
    try:
        if tty:
            while data := await reader.read(65536):
                await ws.send_bytes(data)
        else:
            while header := await reader.readexactly(8) if not reader.at_eof() else b"":
                data = await reader.readexactly(int.from_bytes(header[4:], "big"))
                await ws.send_bytes(data)
    except asyncio.IncompleteReadError:
        pass
    finally:
        up.cancel()
        writer.close()
        await ws.close()
    return ws


@routes.get(version.path(ID + "/top"))
async def top(request: web.Request) -> web.Response:
    return ok(await blocking(_service(request).top, _ref(request), request.query.get("ps_args", "")))


@routes.get(version.path(ID + "/changes"))
async def changes(request: web.Request) -> web.Response:
    return ok(await blocking(_service(request).changes, _ref(request)) or None)


@routes.get(version.path(ID + "/stats"))
async def stats(request: web.Request) -> web.StreamResponse:
    """One document (`stream=false`; with `one-shot` no second sample for precpu_stats), or
    one a second until the client goes."""
    svc = _service(request)
    cid = (await blocking(svc.get, _ref(request))).id
    if not flag(request, "stream", True):
        doc = await blocking(svc.stats, cid)
        if not flag(request, "one-shot"):
            await asyncio.sleep(1)
            doc = {**await blocking(svc.stats, cid), "precpu_stats": doc["cpu_stats"]}
        return ok(doc)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    previous = None
    while True:
        doc = await blocking(svc.stats, cid)
        if previous is not None:
            doc["precpu_stats"] = previous["cpu_stats"]
        await resp.write(json.dumps(doc).encode() + b"\n")
        previous = doc
        c = await blocking(svc.get, cid)
        if not c.running:
            break
        await asyncio.sleep(1)
    await resp.write_eof()
    return resp


def _copy_stream(source, out) -> None:
    """Copy a binary stream (a file object, or an iterable of chunks) to `out`, closing it after."""
    try:
        if hasattr(source, "read"):
            while chunk := source.read(1 << 20):
                out.write(chunk)
        else:
            for chunk in source:
                out.write(chunk)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


@routes.get(version.path(ID + "/export"))
async def export(request: web.Request) -> web.StreamResponse:
    svc = _service(request)
    source = await blocking(svc.export, _ref(request))
    return await stream_out(request, lambda out: _copy_stream(source, out))


def _path_stat_header(stat: dict) -> str:
    return base64.b64encode(json.dumps(stat).encode()).decode()


def _archive_path(request: web.Request) -> str:
    path = request.query.get("path")
    if not path:
        raise InvalidArgument("path is required")
    return path


@routes.route("HEAD", version.path(ID + "/archive"))
async def archive_head(request: web.Request) -> web.Response:
    stat = await blocking(_service(request).archive_stat, _ref(request), _archive_path(request))
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": _path_stat_header(stat)})


@routes.get(version.path(ID + "/archive"), allow_head=False)
async def archive_get(request: web.Request) -> web.StreamResponse:
    stat, source = await blocking(_service(request).archive_get, _ref(request), _archive_path(request))
    return await stream_out(request, lambda out: _copy_stream(source, out),
                            headers={"X-Docker-Container-Path-Stat": _path_stat_header(stat)})


@routes.put(version.path(ID + "/archive"))
async def archive_put(request: web.Request) -> web.Response:
    path = _archive_path(request)
    loop = asyncio.get_running_loop()
    no_overwrite = flag(request, "noOverwriteDirNonDir")
    await blocking(_service(request).archive_put, _ref(request), path, BodyReader(request, loop),
                   no_overwrite=no_overwrite)
    return web.Response(status=200)


def setup(app: web.Application) -> None:
    app[WAITING_ATTACH] = {}
    containercache.setup(app, app[ENGINE])
