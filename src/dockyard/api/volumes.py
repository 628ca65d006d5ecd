"""Volume endpoints: create, list, inspect, remove, prune."""

from __future__ import annotations

from aiohttp import web

from dockyard.api import version
from dockyard.api.requests import blocking, body, engine, filters, flag, no_content, ok

routes = web.RouteTableDef()


@routes.get(version.path("/volumes"))
async def list_volumes(request: web.Request) -> web.Response:
    eng = engine(request)
    return ok({"Volumes": await blocking(eng.volumes.list, filters(request)), "Warnings": []})


@routes.post(version.path("/volumes/create"))
async def create_volume(request: web.Request) -> web.Response:
    doc = await body(request, required=False)
    eng = engine(request)

    def create() -> dict:
        return eng.volumes.create(doc.get("Name") or "", driver=doc.get("Driver") or "local",
                                  labels=doc.get("Labels") or None, options=doc.get("DriverOpts") or None)
    return ok(await blocking(create), status=201)


@routes.get(version.path("/volumes/{name}"))
async def inspect_volume(request: web.Request) -> web.Response:
    return ok(await blocking(engine(request).volumes.inspect, request.match_info["name"]))


@routes.delete(version.path("/volumes/{name}"))
async def remove_volume(request: web.Request) -> web.Response:
    eng = engine(request)
    name = request.match_info["name"]

    await blocking(eng.volumes.remove, name, force=flag(request, "force"))
    return no_content()


@routes.post(version.path("/volumes/prune"))
async def prune_volumes(request: web.Request) -> web.Response:
    from dockyard import filtering
    wanted = filters(request)
    filtering.check(wanted, ("all", "label", "label!"))
    all_volumes = wanted.pop("all", ["false"])[-1].lower() in ("1", "true")
    eng = engine(request)

    removed, freed = await blocking(eng.volumes.prune, all_volumes=all_volumes, filters=wanted)
    return ok({"VolumesDeleted": removed, "SpaceReclaimed": freed})
