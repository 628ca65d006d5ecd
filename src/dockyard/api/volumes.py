"""Volume endpoints: create, list, inspect, remove, prune."""

from __future__ import annotations

from aiohttp import web

from dockyard.api import version
from dockyard.api.requests import blocking, body, engine, filters, flag, no_content, ok
from dockyard.errors import InvalidArgument

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
        existed = bool(doc.get("Name")) and eng.volumes.exists(doc["Name"])
        vol = eng.volumes.create(doc.get("Name") or "", driver=doc.get("Driver") or "local",
                                 labels=doc.get("Labels") or None, options=doc.get("DriverOpts") or None)
        if not existed:
            eng.events.emit("volume", "create", vol["Name"], driver=vol["Driver"])
        return vol
    return ok(await blocking(create), status=201)


@routes.get(version.path("/volumes/{name}"))
async def inspect_volume(request: web.Request) -> web.Response:
    return ok(await blocking(engine(request).volumes.inspect, request.match_info["name"]))


@routes.delete(version.path("/volumes/{name}"))
async def remove_volume(request: web.Request) -> web.Response:
    eng = engine(request)
    name = request.match_info["name"]

    def remove() -> None:
        eng.volumes.remove(name, force=flag(request, "force"))
        eng.events.emit("volume", "destroy", name, driver="local")
    await blocking(remove)
    return no_content()


@routes.post(version.path("/volumes/prune"))
async def prune_volumes(request: web.Request) -> web.Response:
    wanted = filters(request)
    all_volumes = wanted.pop("all", ["false"])[-1].lower() in ("1", "true")
    if wanted:
        raise InvalidArgument(f"volume prune filters {sorted(wanted)} are not supported: use all")
    eng = engine(request)

    def prune() -> tuple[list[str], int]:
        removed, freed = eng.volumes.prune(all_volumes=all_volumes)
        for name in removed:
            eng.events.emit("volume", "destroy", name, driver="local")
        return removed, freed
    removed, freed = await blocking(prune)
    return ok({"VolumesDeleted": removed or None, "SpaceReclaimed": freed})
