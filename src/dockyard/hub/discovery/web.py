"""`GET /v1/search` (the hub's repositories in the shape of Docker's search API, see search.py)
and the page comparing the packages of two tags."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.errors import InvalidArgument
from dockyard.hub.discovery import contents, search
from dockyard.hub.discovery.info import RepoInfo
from dockyard.registry import errors as registry_errors

if TYPE_CHECKING:
    from dockyard.hub.access import HubAccess
    from dockyard.hub.accounts.access import AccountsAccess
    from dockyard.hub.state import HubState
    from dockyard.hub.web import Pages


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


DIFF = """{% extends "base.html" %}
{% block title %}{{ repo }}: packages compared · dockyard hub{% endblock %}
{% block main %}
<h1>Packages of <a href="/r/{{ repo }}">{{ repo }}</a> compared</h1>
<form method="get" id="compare">
<label>From <select name="from" id="from">{% for t in tags %}<option{% if t == old %} selected{% endif %}>{{ t }}</option>{% endfor %}</select></label>
<label>To <select name="to" id="to">{% for t in tags %}<option{% if t == new %} selected{% endif %}>{{ t }}</option>{% endfor %}</select></label>
<button type="submit">Compare</button></form>
{% if result %}
{% for title, key in (("Added", "added"), ("Removed", "removed")) %}
<h2>{{ title }} ({{ result[key]|length }})</h2>
<table id="{{ key }}"><tr><th>Package</th><th>Version</th><th>Kind</th></tr>
{% for p in result[key] %}<tr data-package="{{ p.name }}"><td>{{ p.name }}</td><td>{{ p.version }}</td><td>{{ p.kind }}</td></tr>{% endfor %}</table>
{% endfor %}
<h2>Changed ({{ result.changed|length }})</h2>
<table id="changed"><tr><th>Package</th><th>From</th><th>To</th><th>Kind</th></tr>
{% for p in result.changed %}<tr data-package="{{ p.name }}"><td>{{ p.name }}</td><td>{{ p["from"] }}</td><td>{{ p.to }}</td><td>{{ p.kind }}</td></tr>{% endfor %}</table>
{% endif %}
{% endblock %}
"""


class DiffPage:
    """`/r/NAME/-/diff?from=TAG&to=TAG`: the packages two tags differ by."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        pages.add_templates({"diff.html": DIFF})

    def routes(self, app: web.Application) -> None:
        """Before the hub's own routes, whose `/r/{path}` would take this path too."""
        app.router.add_get("/r/{repo:.+}/-/diff", self.diff)

    async def diff(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        visitor, ok = await self.pages._visible(request, repo)
        catalog = self.pages.catalog
        try:
            tags = sorted(t.name for t in catalog.tags(repo)) if ok else []
        except registry_errors.RegistryError:
            ok = False
        if not ok:
            return self.pages.not_found(visitor, f"repository {repo}")
        old, new = request.query.get("from", ""), request.query.get("to", "")
        result = None
        if old and new:
            missing = [t for t in (old, new) if t not in tags]
            if missing:
                return self.pages.not_found(visitor, f"tag {missing[0]} in {repo}")
            loop = asyncio.get_running_loop()
            docs = [await loop.run_in_executor(None, contents.of_image, catalog.storage, self.pages.info, repo,
                                               catalog.image(repo, t)) for t in (old, new)]
            if None in docs:
                return self.pages.render("message.html", visitor, 409, heading="Cannot compare",
                                         text="One of the tags is a multi-platform index or its layers cannot be read.")
            result = contents.diff(*docs)
        return self.pages.render("diff.html", visitor, repo=repo, tags=tags, old=old, new=new, result=result)
