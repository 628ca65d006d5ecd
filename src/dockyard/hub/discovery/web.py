"""`GET /v1/search`: the hub's repositories in the shape of Docker's search API (see search.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.errors import InvalidArgument
from dockyard.hub.discovery import search
from dockyard.hub.discovery.info import RepoInfo

if TYPE_CHECKING:
    from dockyard.hub.access import HubAccess
    from dockyard.hub.accounts.access import AccountsAccess
    from dockyard.hub.state import HubState


class SearchEndpoint:
    def __init__(self, info: RepoInfo, state: HubState, access: HubAccess | AccountsAccess) -> None:
        self.info, self.state, self.access = info, state, access

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        private = self.state.private_repos()
        readable = self.access.readable_private(visitor, private)
        automated = frozenset(s.repo for s in self.state.sources())
        try:
            answer = search.search(self.info, request.query.get("q", ""),
                                   lambda repo: repo not in private or repo in readable, automated,
                                   request.query.get("page"), request.query.get("n"))
        except InvalidArgument as exc:
            return web.json_response({"message": exc.message}, status=400)
        return web.json_response(answer)
