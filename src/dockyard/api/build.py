"""POST /build (the classic builder's API: a tar context in the body, or a `remote` URL, and a
JSON stream out) and POST /build/prune.

The docker CLI's legacy builder (DOCKER_BUILDKIT=0, or a daemon answering Builder-Version 1)
prints the `stream` lines as they come, takes the image ID from the `aux` message, and exits
with the `errorDetail` code of a failed build. Query parameters are checked as dockerd checks
them, before anything is streamed, so a bad one is a 4xx; with `q` everything but the image ID
is held back and only sent if the build fails, as dockerd does.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from dockyard.api import gojson, registryauth, version
from dockyard.api.requests import blocking, engine, filters, flag, ok
from dockyard.api.streams import BodyReader, BuildStream, JSONProgress, json_stream
from dockyard.errors import InvalidArgument

routes = web.RouteTableDef()
log = logging.getLogger("dockyard.api")

MIN_MEMORY = 6 * 1024 * 1024  # dockerd's minimum container memory limit
_REMOTE_PREFIXES = ("http://", "https://", "git://", "git@", "github.com/")


def _json_param(request: web.Request, name: str, what: str, kind: type):
    """A JSON query parameter (`null` being absent), refused as dockerd refuses it: `error
    reading build args: ...`."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        doc = gojson.loads(raw)  # Go's decoder's words, and no crash on deep nesting
    except ValueError as err:
        raise InvalidArgument(f"error reading {what}: {err}") from None
    if doc is not None and not isinstance(doc, kind):
        raise InvalidArgument(f"error reading {what}: expected a JSON {'object' if kind is dict else 'array'}")
    return doc


def _string_map(request: web.Request, name: str, what: str, *, nulls: bool) -> dict[str, str]:
    """buildargs and labels: an object of strings; a null build arg ("use the environment's",
    which the server does not have) is left out."""
    doc = _json_param(request, name, what, dict) or {}
    for key, value in doc.items():
        if not (isinstance(value, str) or (value is None and nulls)):
            raise InvalidArgument(f"error reading {what}: the value of {key!r} is not a string")
    return {k: v for k, v in doc.items() if v is not None}


def _int(request: web.Request, name: str) -> int:
    raw = request.query.get(name) or "0"
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {raw!r} is not an integer") from None
    if value < 0 and name != "memswap":  # memswap -1: unlimited swap
        raise InvalidArgument(f"invalid value for {name}: {raw!r} must not be negative")
    return value


def _ulimits(request: web.Request) -> list:
    """`[{"Name": "nofile", "Soft": 1024, "Hard": 2048}]`, as the docker CLI sends --ulimit."""
    from dockyard.runtime.spec import RLIMITS, Ulimit

    out = []
    for item in _json_param(request, "ulimits", "ulimit settings", list) or []:
        try:
            out.append(Ulimit(str(item["Name"]), int(item["Soft"]), int(item["Hard"])))
        except (TypeError, KeyError, ValueError):
            raise InvalidArgument(f"error reading ulimit settings: {item!r} is not a ulimit") from None
        if out[-1].name not in RLIMITS:
            raise InvalidArgument(f"invalid ulimit type: {out[-1].name}")
    return out


def _refused(request: web.Request) -> None:
    """Parameters dockyard does not honour: an error rather than a build that silently differs."""
    q = request.query
    if q.getall("securityopt", []):
        raise InvalidArgument("security options are not supported on linux")
    if flag(request, "squash"):
        raise InvalidArgument("squash is only supported with experimental mode")
    if q.get("isolation", "") not in ("", "default"):
        raise InvalidArgument(f"unsupported isolation: {q['isolation']!r}")
    if q.get("version", "1") not in ("1", "2", ""):
        raise InvalidArgument(f"invalid version {q['version']!r}")
    if q.get("cgroupparent"):
        raise InvalidArgument("cgroupparent is not supported for builds")


def _platform(request: web.Request) -> str | None:
    """The one platform the classic builder builds for (`linux` alone: the host's)."""
    from dockyard.oci.platform import parse_platform

    wanted = (request.query.get("platform") or "").lower()
    if not wanted or wanted == "linux":
        return None
    if "," in wanted:
        raise InvalidArgument("multiple platforms feature is currently not supported for docker driver")
    platform = parse_platform(wanted)
    if platform.os != "linux":
        raise InvalidArgument(f"platform {wanted!r} is not supported: only linux platforms can be built")
    return str(platform)


def _tags(request: web.Request) -> list[str]:
    from dockyard.oci.reference import parse_normalized

    tags = request.query.getall("t", [])
    for tag in tags:
        if parse_normalized(tag).digest:
            raise InvalidArgument("build tag cannot contain a digest")
    return tags


def _remote(request: web.Request) -> str | None:
    """A `remote` context: a git repository or an http(s) tarball or Dockerfile; never a path
    on the server."""
    remote = request.query.get("remote") or None
    if remote == "client-session":
        raise InvalidArgument("a build context from the client's session (remote=client-session) is not served on "
                              "POST /build: BuildKit clients build over POST /grpc")
    if remote is not None and not remote.startswith(_REMOTE_PREFIXES):
        raise InvalidArgument(f"remoteURL ({remote}) could not be recognized as URL")
    return remote


def _options(request: web.Request, eng):
    from dockyard.builder.builder import BuildOptions
    from dockyard.builder.sandbox import check_network
    from dockyard.network.files import parse_add_host

    _refused(request)
    platform = _platform(request)
    network = request.query.get("networkmode") or "default"
    check_network(eng, network)
    extra_hosts = request.query.getall("extrahosts", [])
    for entry in extra_hosts:
        parse_add_host(entry, "0.0.0.0")  # the form only: host-gateway is looked up when a step runs
    args = _string_map(request, "buildargs", "build args", nulls=True)
    epoch = args.get("SOURCE_DATE_EPOCH")
    cache_from = _json_param(request, "cachefrom", "cache-from", list)
    if cache_from and not all(isinstance(c, str) for c in cache_from):
        raise InvalidArgument("error reading cache-from: expected an array of image names")
    memory = _int(request, "memory")
    if 0 < memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    limits = {"memory": memory, "memory_swap": _int(request, "memswap"), "cpu_shares": _int(request, "cpushares"),
              "cpu_quota": _int(request, "cpuquota"), "cpu_period": _int(request, "cpuperiod"),
              "cpuset_cpus": request.query.get("cpusetcpus", ""), "cpuset_mems": request.query.get("cpusetmems", ""),
              "ulimits": _ulimits(request)}
    if shm_size := _int(request, "shmsize"):
        limits["shm_size"] = shm_size
    force_rm = flag(request, "forcerm")
    return BuildOptions(
        tags=_tags(request), build_args=args, target=request.query.get("target") or None,
        no_cache=flag(request, "nocache"), pull=flag(request, "pull"),
        labels=_string_map(request, "labels", "labels", nulls=False), network=network,
        source_date_epoch=int(epoch) if epoch and epoch.isdigit() else None, extra_hosts=extra_hosts,
        cache_from=cache_from or None, limits=limits, classic=True, platform=platform,
        remove=force_rm or flag(request, "rm", default=True), force_remove=force_rm)


@routes.post(version.path("/build"))
async def build(request: web.Request) -> web.StreamResponse:
    from dockyard.builder.builder import BuildCancelled, build_image
    from dockyard.builder.context import open_context
    from dockyard.builder.run import StepFailed

    eng = engine(request)
    remote = _remote(request)
    options = await blocking(_options, request, eng)
    dockerfile = request.query.get("dockerfile") or "Dockerfile"
    quiet = flag(request, "q")
    logins = registryauth.credential_map(request)
    loop = asyncio.get_running_loop()

    def client_gone() -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

    if request.query.get("version") == "2":
        return await _build_v2(request, eng, options, remote, dockerfile, logins)

    def run(send) -> None:
        from dockyard.oci.reference import parse_normalized

        held: list[dict] = []
        emit = held.append if quiet else send
        base_image = _base_images(eng, logins, emit)

        try:
            with open_context(remote or "-", dockerfile, stdin=BodyReader(request, loop), in_context=True,
                              store=eng.root) as context:
                image = build_image(eng, context, options, BuildStream(emit, client_gone), base_image)
        except BaseException as err:
            if isinstance(err, BuildCancelled):  # as dockerd: the client left, so the build stops
                log.warning("POST /build: the client went away, build cancelled")
            for msg in held:  # -q: what was held back explains the failure
                send(msg)
            if not isinstance(err, StepFailed) or not err.argv:
                raise
            # the classic builder's words for a failed RUN, with its exit code for the CLI's own
            text = f"The command '{' '.join(err.argv)}' returned a non-zero code: {err.code}"
            send({"errorDetail": {"code": err.code, "message": text}, "error": text})
            return
        short = image.id.split(":")[-1][:12]
        emit({"stream": f"Successfully built {short}\n"})
        for tag in options.tags:
            emit({"stream": f"Successfully tagged {parse_normalized(tag).with_default_tag().familiar}\n"})
        if quiet:
            send({"stream": image.id + "\n"})
        eng.events.emit("image", "build", image.id, name=options.tags[0] if options.tags else image.id)

    return await json_stream(request, run)


def _base_images(eng, logins: dict, emit):
    """The FROM images of a build: local ones, else pulled as dockerd's builder pulls them, with
    the request's logins, telling it in `emit`'s stream."""
    from dockyard.distribution.images import pull_image
    from dockyard.oci.reference import parse_normalized

    def base_image(name: str, force_pull: bool, platform: str | None):
        from dockyard.images.indexes import find_for_platform

        image = None if force_pull else find_for_platform(eng.images, name, platform)
        if image is None:
            ref = parse_normalized(name).with_default_tag()
            emit({"status": f"Pulling from {ref.path}", "id": ref.tag or ref.digest})
            pulled = pull_image(eng.images, ref, platform=platform, progress=JSONProgress(emit),
                                credentials=logins.get(ref.domain), insecure_registries=eng.insecure_registries,
                                mirrors=eng.registry_mirrors)
            emit({"status": f"Digest: {pulled.digest}"})
            emit({"status": pulled.status(ref)})
            image = pulled.image
        return image

    return base_image


async def _build_v2(request: web.Request, eng, options, remote: str | None, dockerfile: str,
                    logins: dict) -> web.StreamResponse:
    """version=2, as dockerd with BuildKit answers it: the same build, its progress as BuildKit
    status updates (`aux` of `moby.buildkit.trace`: a base64 StatusResponse) and the image ID
    in `moby.image.id`. The context is the body (or `remote`); a context synced over a client
    session (remote=client-session) is what POST /grpc serves."""
    import base64
    import secrets

    from dockyard.builder.builder import build_image
    from dockyard.builder.context import open_context
    from dockyard.buildkit.solve import failure
    from dockyard.buildkit.status import StatusProgress
    from dockyard.errors import DockyardError

    options.classic = False
    loop = asyncio.get_running_loop()
    ref = request.query.get("buildid") or secrets.token_hex(13)

    def client_gone() -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

    def run(send) -> None:
        progress = StatusProgress(ref, lambda update: send({"id": "moby.buildkit.trace",
                                                            "aux": base64.b64encode(update).decode()}), client_gone)
        try:
            with open_context(remote or "-", dockerfile, stdin=BodyReader(request, loop), in_context=True) as context:
                image = build_image(eng, context, options, progress, _base_images(eng, logins, lambda msg: None))
        except DockyardError as err:
            text = failure(err).message
            send({"errorDetail": {"message": text}, "error": text})
            return
        send({"id": "moby.image.id", "aux": {"ID": image.id}})
        eng.events.emit("image", "build", image.id, name=options.tags[0] if options.tags else image.id)

    return await json_stream(request, run)


@routes.post(version.path("/build/prune"))
async def prune(request: web.Request) -> web.Response:
    from dockyard import filtering
    eng = engine(request)
    wanted = filters(request)
    filtering.check(wanted, ("until", "unused-for", "label", "label!"))
    # the cache reports how many records it dropped, not their IDs, so none are listed
    _, freed = await blocking(eng.build_cache.prune, all=flag(request, "all"), filters=wanted)
    return ok({"CachesDeleted": None, "SpaceReclaimed": freed})
