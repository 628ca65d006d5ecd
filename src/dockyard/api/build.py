"""POST /build (the classic builder's API: a tar context in the body, JSON stream out) and
POST /build/prune.

The docker CLI's legacy builder (DOCKER_BUILDKIT=0, or a daemon answering Builder-Version 1)
prints the `stream` lines as they come and takes the image ID from the `aux` message.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from dockyard.api import gojson, registryauth, version
from dockyard.api.requests import blocking, engine, flag, ok
from dockyard.api.streams import BodyReader, BuildStream, JSONProgress, json_stream
from dockyard.errors import InvalidArgument

routes = web.RouteTableDef()


_STRINGS_BY_NAME = gojson.Map(gojson.STRING)
_READING = {"buildargs": "build args", "labels": "labels"}


def _json_map(request: web.Request, name: str) -> dict[str, str]:
    """A JSON object of strings in the query, refused as dockerd refuses it ("error reading build args")."""
    raw = request.query.get(name)
    if not raw:
        return {}
    try:
        doc = gojson.loads(raw)
        _STRINGS_BY_NAME.validate(doc)
    except (ValueError, gojson.TypeMismatch) as e:
        raise InvalidArgument(f"error reading {_READING[name]}: {e}") from None
    # build args may be null ("use the environment's"): the server has no client environment
    return {k: v for k, v in (doc or {}).items() if v is not None}


@routes.post(version.path("/build"))
async def build(request: web.Request) -> web.StreamResponse:
    from dockyard.build.builder import BuildOptions, build_image
    from dockyard.build.context import open_context

    if request.query.get("remote"):
        raise InvalidArgument("remote build contexts are not supported through the API: send the context as a tar")
    network = request.query.get("networkmode") or "default"
    if network == "bridge":
        network = "default"
    args = _json_map(request, "buildargs")
    epoch = args.get("SOURCE_DATE_EPOCH")
    options = BuildOptions(tags=request.query.getall("t", []), build_args=args,
                           target=request.query.get("target") or None, no_cache=flag(request, "nocache"),
                           pull=flag(request, "pull"), labels=_json_map(request, "labels"), network=network,
                           source_date_epoch=int(epoch) if epoch and epoch.isdigit() else None)
    dockerfile = request.query.get("dockerfile") or None
    if dockerfile == "Dockerfile":
        dockerfile = None  # the context's own, never one beside the server
    quiet = flag(request, "q")
    eng = engine(request)
    logins = registryauth.credential_map(request)
    loop = asyncio.get_running_loop()

    def run(emit) -> None:
        from dockyard.distribution.images import pull_image
        from dockyard.oci.reference import parse_normalized

        def base_image(name: str, force_pull: bool):
            image = None if force_pull else eng.images.find(name)
            if image is None:
                ref = parse_normalized(name)
                pull_image(eng.images, ref, progress=JSONProgress(emit) if not quiet else None,
                           credentials=logins.get(ref.domain), insecure_registries=eng.insecure_registries)
                image = eng.images.get(name)
            return image

        progress = BuildStream(emit, quiet)
        with open_context("-", dockerfile, stdin=BodyReader(request, loop)) as context:
            image = build_image(eng, context, options, progress, base_image)
        emit({"aux": {"ID": image.id}})
        if quiet:
            emit({"stream": image.id + "\n"})
            return
        emit({"stream": f"Successfully built {image.id.split(':')[-1][:12]}\n"})
        for tag in options.tags:
            emit({"stream": f"Successfully tagged {parse_normalized(tag).familiar}\n"})
        eng.events.emit("image", "build", image.id, name=options.tags[0] if options.tags else image.id)

    return await json_stream(request, run)


@routes.post(version.path("/build/prune"))
async def prune(request: web.Request) -> web.Response:
    eng = engine(request)
    # the cache reports how many records it dropped, not their IDs, so none are listed
    _, freed = await blocking(eng.build_cache.prune, all=flag(request, "all"))
    return ok({"CachesDeleted": None, "SpaceReclaimed": freed})
