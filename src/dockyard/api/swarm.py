"""Swarm endpoints, answered as a Docker engine that is not in a swarm.

dockyard has no swarm mode, so it stands where an engine that never ran `docker swarm init`
stands: every cluster query or change is 503 with dockerd's "not a swarm manager" text,
leaving is 503 "not part of a swarm", and `/_ping` and `/info` report the swarm inactive.
Clients (compose, testcontainers, docker-py's `swarm.leave`) probe or tidy up with these
calls and rely on exactly those answers. Creating or joining a swarm is refused with the
same status and a message that says why, where dockerd would start one.
"""

from __future__ import annotations

from aiohttp import web

from dockyard.api import version
from dockyard.api.requests import filters
from dockyard.errors import DockyardError

routes = web.RouteTableDef()


class Unavailable(DockyardError):
    """dockerd's notAvailableError: the node is not in a state to do this."""

    status = 503


NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
               "to connect this node to swarm and try again.")
NOT_IN_SWARM = "This node is not part of a swarm"
NO_SWARM_MODE = "dockyard does not implement swarm mode: this node cannot create or join a swarm"

_KINDS = ("services", "nodes", "tasks", "secrets", "configs")
# (method, path) of every other manager-only endpoint dockerd serves (its swarm router)
_MANAGER_ONLY = [
    ("GET", "/swarm"), ("GET", "/swarm/unlockkey"), ("POST", "/swarm/update"), ("POST", "/swarm/unlock"),
    *[("GET", f"/{kind}/{{id}}") for kind in _KINDS],
    ("POST", "/services/create"), ("POST", "/services/{id}/update"), ("DELETE", "/services/{id}"),
    ("GET", "/services/{id}/logs"), ("DELETE", "/nodes/{id}"), ("POST", "/nodes/{id}/update"),
    ("GET", "/tasks/{id}/logs"),
    *[(method, f"/{kind}{tail}")
      for kind in ("secrets", "configs")
      for method, tail in (("POST", "/create"), ("DELETE", "/{id}"), ("POST", "/{id}/update"))],
]


async def _not_manager(request: web.Request) -> web.Response:
    raise Unavailable(NOT_MANAGER)


async def _list(request: web.Request) -> web.Response:
    filters(request)  # dockerd reads a list's filters before it asks the cluster: bad ones are 400
    raise Unavailable(NOT_MANAGER)


for _method, _path in _MANAGER_ONLY:
    routes.route(_method, version.path(_path))(_not_manager)
for _kind in _KINDS:
    routes.get(version.path(f"/{_kind}"))(_list)


@routes.post(version.path("/swarm/leave"))
async def leave(request: web.Request) -> web.Response:
    raise Unavailable(NOT_IN_SWARM)


@routes.post(version.path("/swarm/init"))
@routes.post(version.path("/swarm/join"))
async def init_or_join(request: web.Request) -> web.Response:
    raise Unavailable(NO_SWARM_MODE)
