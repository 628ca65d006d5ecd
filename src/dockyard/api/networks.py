"""Network endpoints: create, list, inspect, remove, prune, connect, disconnect."""

from __future__ import annotations

from aiohttp import web

from dockyard.api import version
from dockyard.api.requests import blocking, body, engine, filters, no_content, ok
from dockyard.errors import InvalidArgument

routes = web.RouteTableDef()


@routes.get(version.path("/networks"))
async def list_networks(request: web.Request) -> web.Response:
    return ok(await blocking(engine(request).networks.list, filters(request)))


@routes.get(version.path("/networks/{id}"))
async def inspect_network(request: web.Request) -> web.Response:
    return ok(await blocking(engine(request).networks.inspect, request.match_info["id"]))


@routes.post(version.path("/networks/create"))
async def create_network(request: web.Request) -> web.Response:
    doc = await body(request)
    name = str(doc.get("Name") or "")
    pools = (doc.get("IPAM") or {}).get("Config") or []
    v4 = [p for p in pools if ":" not in (p.get("Subnet") or p.get("Gateway") or "")]
    v6 = [p for p in pools if p not in v4]
    if len(v4) > 1 or len(v6) > 1:
        raise InvalidArgument("only one IPv4 and one IPv6 IPAM pool per network are supported")
    pool, pool6 = (v4 or [{}])[0], (v6 or [{}])[0]
    eng = engine(request)

    def create() -> dict:
        return eng.networks.create(name, driver=doc.get("Driver") or "bridge", subnet=pool.get("Subnet") or None,
                                   gateway=pool.get("Gateway") or None, ip_range=pool.get("IPRange") or None,
                                   aux_addresses=pool.get("AuxiliaryAddresses") or None,
                                   internal=bool(doc.get("Internal")), attachable=bool(doc.get("Attachable")),
                                   options=doc.get("Options") or None, labels=doc.get("Labels") or None,
                                   enable_ipv6=bool(doc.get("EnableIPv6")), subnet6=pool6.get("Subnet") or None,
                                   gateway6=pool6.get("Gateway") or None, ip_range6=pool6.get("IPRange") or None,
                                   aux_addresses6=pool6.get("AuxiliaryAddresses") or None,
                                   ipam_options=(doc.get("IPAM") or {}).get("Options"))
    net = await blocking(create)
    return ok({"Id": net["Id"], "Warning": ""}, status=201)


@routes.delete(version.path("/networks/{id}"))
async def remove_network(request: web.Request) -> web.Response:
    eng = engine(request)

    await blocking(eng.networks.remove, request.match_info["id"])
    return no_content()


@routes.post(version.path("/networks/prune"))
async def prune_networks(request: web.Request) -> web.Response:
    from dockyard import filtering
    wanted = filters(request)
    filtering.check(wanted, ("until", "label", "label!"))
    return ok({"NetworksDeleted": await blocking(engine(request).networks.prune, wanted) or None})


@routes.post(version.path("/networks/{id}/connect"))
async def connect(request: web.Request) -> web.Response:
    doc = await body(request)
    eng = engine(request)

    await blocking(eng.containers.connect, doc.get("Container") or "", request.match_info["id"],
                   doc.get("EndpointConfig") or {})
    return web.Response(status=200)


@routes.post(version.path("/networks/{id}/disconnect"))
async def disconnect(request: web.Request) -> web.Response:
    doc = await body(request)
    eng = engine(request)

    await blocking(eng.containers.disconnect, doc.get("Container") or "", request.match_info["id"],
                   bool(doc.get("Force")))
    return web.Response(status=200)
