"""Image endpoints: list, inspect, history, pull and import, push, distribution inspect, tag,
remove, search, prune, save (`get`), load, commit.

Names may hold slashes and a registry port (`localhost:5000/team/app:1`), so the routes take
the name as a greedy path pattern ahead of the fixed last segment.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from dockyard.api import registryauth, version
from dockyard.api.requests import blocking, engine, filters, flag, integer, ok
from dockyard.api.streams import BodyReader, Emit, JSONProgress, error_message, json_stream, stream_out
from dockyard.errors import DockyardError, InvalidArgument

routes = web.RouteTableDef()
NAME = "{name:.+}"


def image_summaries(eng, images: list, manifests: bool = False, references: list[str] = ()) -> list[dict]:
    """ImageSummary items: one per image, with every tag (the CLI splits rows itself), or with
    `references` (the `reference` filter's patterns) only the tags that match, as dockerd lists
    them; with `manifests`, each one's platform manifests (`images --tree`)."""
    from dockyard.images.service import ref_matches
    from dockyard.images.rows import created_epoch
    from dockyard.images.views import manifest_summaries
    from dockyard.oci.reference import parse

    out = []
    for img in images:
        cfg = eng.images.config(img)
        tags = [t for t in img.tags if not references or any(ref_matches(t, p) for p in references)]
        out.append({
            "Id": img.id, "ParentId": eng.images.parent(img.id), "RepoTags": [parse(t).familiar for t in tags],
            "RepoDigests": [parse(r).familiar for r in img.repo_digests], "Created": created_epoch(cfg.get("created")),
            "Size": img.size, "SharedSize": -1, "VirtualSize": img.size,
            "Labels": (cfg.get("config") or {}).get("Labels") or {}, "Containers": -1,
        })
        if manifests:
            out[-1]["Manifests"] = manifest_summaries(eng.images, img)
    return out


@routes.get(version.path("/images/json"))
async def list_images(request: web.Request) -> web.Response:
    eng = engine(request)
    wanted = filters(request)
    if "reference" not in wanted and request.query.get("filter"):  # the pre-1.25 name filter
        wanted["reference"] = [request.query["filter"]]
    # `all` would add intermediate images, which dockyard does not keep: every image is listed
    manifests = flag(request, "manifests")
    return ok(await blocking(lambda: image_summaries(eng, eng.images.list(filters=wanted), manifests,
                                                     wanted.get("reference", []))))


@routes.get(version.path(f"/images/{NAME}/json"))
async def inspect_image(request: web.Request) -> web.Response:
    from dockyard.images.views import inspect

    eng = engine(request)
    return ok(await blocking(lambda: inspect(eng.images, eng.images.get(request.match_info["name"]))))


@routes.get(version.path(f"/images/{NAME}/history"))
async def image_history(request: web.Request) -> web.Response:
    from dockyard.images.views import history

    eng = engine(request)
    return ok(await blocking(lambda: history(eng.images, eng.images.get(request.match_info["name"]))))


def _reference(image: str, tag: str):
    """`fromImage` plus `tag` (a tag or a digest) as one reference; neither means every tag."""
    from dockyard.oci.reference import parse

    if tag:
        image = f"{image}@{tag}" if ":" in tag else f"{image}:{tag}"  # a tag has no colon: a digest
    return parse(image)


@routes.post(version.path("/images/create"))
async def create_image(request: web.Request) -> web.StreamResponse:
    """Pull (`fromImage`) or import (`fromSrc`: `-` for the body, or a URL)."""
    if request.query.get("fromSrc"):
        return await _import(request)
    name = request.query.get("fromImage")
    if not name:
        raise InvalidArgument("fromImage or fromSrc is required")
    ref = _reference(name, request.query.get("tag", ""))
    eng = engine(request)
    platform = request.query.get("platform") or None
    creds = registryauth.credentials(request)
    if not ref.tag and not ref.digest:  # dockerd: no tag pulls every tag (`docker pull --all-tags`)
        return await json_stream(request, lambda emit: _pull_all(emit, eng, ref, platform, creds))

    def pull(emit) -> None:
        from dockyard.distribution.images import pull_image

        # dockerd says "Pulling from" once it has the manifest: a failure before that (refused
        # credentials, an unknown tag) still answers with its status rather than inside a 200
        emit = _preceded(emit, {"status": f"Pulling from {ref.path}", "id": ref.tag or ref.digest})
        pulled = pull_image(eng.images, ref, platform=platform, progress=JSONProgress(emit), credentials=creds,
                            insecure_registries=eng.insecure_registries, mirrors=eng.registry_mirrors)
        emit({"status": f"Digest: {pulled.digest}"})
        emit({"status": pulled.status(ref)})

    return await json_stream(request, pull)


def _pull_all(emit: Emit, eng, ref, platform: str | None, creds) -> None:
    from contextlib import nullcontext

    from dockyard.distribution.images import pull_all_tags

    def progress_for(tag_ref):
        emit({"status": f"Pulling from {tag_ref.path}", "id": tag_ref.tag})
        return nullcontext(JSONProgress(emit))

    newer = False
    for _tag_ref, pulled in pull_all_tags(eng.images, ref, progress_for=progress_for, platform=platform,
                                          credentials=creds, insecure_registries=eng.insecure_registries,
                                          mirrors=eng.registry_mirrors):
        newer = newer or not pulled.up_to_date
        emit({"status": f"Digest: {pulled.digest}"})
    emit({"status": f"Status: {'Downloaded newer image' if newer else 'Image is up to date'} for {ref.familiar}"})


def _preceded(emit: Emit, first: dict) -> Emit:
    """`emit` sending `first` ahead of its first message, whichever thread sends that."""
    lock = threading.Lock()
    pending = [first]

    def send(msg: dict) -> None:
        with lock:
            if pending:
                emit(pending.pop())
        emit(msg)
    return send


async def _import(request: web.Request) -> web.StreamResponse:
    from dockyard.builder.changes import apply_changes
    from dockyard.images.importer import import_image, open_source
    from dockyard.oci.reference import parse_normalized

    src = request.query["fromSrc"]
    repo = request.query.get("repo", "")
    ref = parse_normalized(f"{repo}:{request.query['tag']}" if repo and request.query.get("tag") else repo) \
        if repo else None
    changes = request.query.getall("changes", [])
    message = request.query.get("message", "")
    eng = engine(request)
    loop = asyncio.get_running_loop()

    def run(emit) -> None:
        stream, name = (BodyReader(request, loop), "-") if src == "-" else open_source(src)
        img = import_image(eng.images, stream, ref=ref, container_config=apply_changes({}, changes), message=message,
                           source_name=name)
        emit({"status": img.id})

    return await json_stream(request, run)


@routes.post(version.path(f"/images/{NAME}/push"))
async def push_image(request: web.Request) -> web.StreamResponse:
    from dockyard.oci.reference import parse_normalized

    name = request.match_info["name"]
    tag = request.query.get("tag", "")
    ref = parse_normalized(f"{name}:{tag}" if tag else name)
    eng = engine(request)
    creds = registryauth.credentials(request)

    def push(emit) -> None:
        from dockyard.distribution.images import push_image as push_one, push_refs

        refs = push_refs(eng.images, ref, all_tags=not tag and not ref.tag)
        emit({"status": f"The push refers to repository [{ref.repository}]"})
        for r in refs:
            pushed = push_one(eng.images, r, progress=JSONProgress(emit), credentials=creds,
                              insecure_registries=eng.insecure_registries)
            emit({"status": f"{r.tag}: digest: {pushed.digest} size: {pushed.size}", "progressDetail": {}})
            emit({"progressDetail": {}, "aux": {"Tag": r.tag, "Digest": pushed.digest, "Size": pushed.size}})

    return await json_stream(request, push)


@routes.get(version.path(f"/distribution/{NAME}/json"))
async def distribution_inspect(request: web.Request) -> web.Response:
    """What the registry holds for an image: its manifest's descriptor and platforms."""
    from dockyard.distribution.describe import describe
    from dockyard.oci.reference import parse_normalized

    ref = parse_normalized(request.match_info["name"])
    eng = engine(request)
    remote = await blocking(describe, ref, credentials=registryauth.credentials(request),
                            insecure_registries=eng.insecure_registries)
    return ok({"Descriptor": remote.descriptor, "Platforms": remote.platforms})


@routes.post(version.path(f"/images/{NAME}/tag"))
async def tag_image(request: web.Request) -> web.Response:
    repo = request.query.get("repo")
    if not repo:
        raise InvalidArgument("repository name (repo) is required")
    target = f"{repo}:{request.query['tag']}" if request.query.get("tag") else repo
    await blocking(engine(request).images.tag, request.match_info["name"], target)
    return web.Response(status=201)


@routes.delete(version.path(f"/images/{NAME}"))
async def remove_image(request: web.Request) -> web.Response:
    eng = engine(request)
    name, force, noprune = request.match_info["name"], flag(request, "force"), flag(request, "noprune")

    def remove() -> list[dict]:
        lines = eng.images.remove(name, force=force, prune=not noprune)
        return [{action: what} for action, what in lines]
    return ok(await blocking(remove))


@routes.get(version.path("/images/search"))
async def search_images(request: web.Request) -> web.Response:
    from dockyard.distribution.search import search

    term = request.query.get("term", "")
    if not term:
        raise InvalidArgument("term is required")
    limit = integer(request, "limit", 25)
    wanted = filters(request)
    head = term.split("/")[0]
    registry, bare = (term.split("/", 1) if "/" in term and ("." in head or ":" in head) else (None, term))
    eng = engine(request)
    results = await blocking(search, bare, registry, limit=limit, credentials=registryauth.credentials(request),
                             insecure_registries=eng.insecure_registries)
    out = [{"name": r.get("name", ""), "description": r.get("description") or "",
            "star_count": r.get("star_count", 0), "is_official": bool(r.get("is_official")),
            "is_automated": bool(r.get("is_automated"))} for r in results]
    if "is-official" in wanted:
        out = [r for r in out if str(r["is_official"]).lower() == wanted["is-official"][-1].lower()]
    if "stars" in wanted:
        out = [r for r in out if r["star_count"] >= int(wanted["stars"][-1])]
    return ok(out)


@routes.post(version.path("/images/prune"))
async def prune_images(request: web.Request) -> web.Response:
    from dockyard import filtering
    wanted = filters(request)
    filtering.check(wanted, ("dangling", "until", "label", "label!"))
    dangling = wanted.pop("dangling", ["true"])[-1].lower() in ("1", "true")
    eng = engine(request)
    deleted, freed = await blocking(eng.images.prune, all=not dangling, filters=wanted)
    return ok({"ImagesDeleted": [{action: what} for action, what in deleted] or None, "SpaceReclaimed": freed})


@routes.get(version.path("/images/get"))
async def save_images(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", [])
    if not names:
        raise InvalidArgument("names is required: the images to save")
    return await _save(request, names)


@routes.get(version.path(f"/images/{NAME}/get"))
async def save_image(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    from dockyard.images.archive import save

    eng = engine(request)
    await blocking(lambda: [eng.images.get(n) for n in names])  # 404 before the 200 goes out
    return await stream_out(request, lambda out: save(eng.images, names, out))


@routes.post(version.path("/images/load"))
async def load_images(request: web.Request) -> web.StreamResponse:
    from dockyard.images.archive import load

    eng = engine(request)
    loop = asyncio.get_running_loop()

    def run(emit) -> None:
        # `quiet` only silences progress bars, which loading from a body has none of
        try:
            for line in load(eng.images, BodyReader(request, loop)):
                emit({"stream": line + "\n"})
        except DockyardError as e:  # dockerd answers a load 200 whatever comes, and tells a failure in the stream
            emit(error_message(e.message))

    return await json_stream(request, run)


@routes.post(version.path("/commit"))
async def commit(request: web.Request) -> web.Response:
    from dockyard.api.requests import body

    ref = request.query.get("container")
    if not ref:
        raise InvalidArgument("container is required")
    config = await body(request, required=False)
    changes = request.query.getall("changes", [])
    eng = engine(request)

    def run() -> str:
        return eng.containers.commit(ref, repo=request.query.get("repo") or None, tag=request.query.get("tag") or None,
                                     comment=request.query.get("comment", ""), author=request.query.get("author", ""),
                                     changes=tuple(changes), pause=flag(request, "pause", True),
                                     config=config or None)
    return ok({"Id": await blocking(run)}, status=201)
