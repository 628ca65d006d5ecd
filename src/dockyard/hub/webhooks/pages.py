"""The webhooks page of a repository, its actions, and where events come from.

    /r/NAME/-/webhooks                  webhooks (secrets never shown) and the delivery history
    POST /r/NAME/-/webhooks             add: `url`, `secret`, `events` (push, build; repeatable)
    POST /r/NAME/-/webhooks/remove      remove webhook `id`
    POST /r/NAME/-/webhooks/redeliver   send delivery `id` again

Only maintainers see the page (webhook addresses are the team's business). A push event is sent
for every tag pushed through the registry API and every tag a build publishes; a build event
when a build ends. Payloads have Docker Hub's shape (`push_data`, `repository`), plus `build`.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.errors import DockyardError
from dockyard.hub.actions import answer, refused
from dockyard.hub.maintainers import is_maintainer
from dockyard.hub.webhooks.sender import Sender
from dockyard.hub.webhooks.store import EVENTS, Webhooks

if TYPE_CHECKING:
    from dockyard.hub.state import Build
    from dockyard.hub.web import Pages

_MANIFEST_PUT = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$")

PAGE = """{% extends "base.html" %}{% from "macros.html" import status %}
{% block title %}Webhooks of {{ repo }} · dockyard hub{% endblock %}
{% block main %}
<h1><a href="/r/{{ repo }}">{{ repo }}</a> · webhooks</h1>
<table id="webhooks"><tr><th>#</th><th>URL</th><th>Events</th><th>Signed</th><th></th></tr>
{% for h in hooks %}<tr data-hook="{{ h.id }}"><td>{{ h.id }}</td><td><code>{{ h.url }}</code></td><td>{{ h.events }}</td>
<td>{{ "yes" if h.secret else "no" }}</td><td><form method="post" action="/r/{{ repo }}/-/webhooks/remove">
<input type="hidden" name="id" value="{{ h.id }}"><button type="submit">Remove</button></form></td></tr>
{% else %}<tr><td colspan="5" class="muted">No webhooks.</td></tr>{% endfor %}
</table>
<form method="post" action="/r/{{ repo }}/-/webhooks" id="add-webhook">
<input name="url" placeholder="https://ci.example/hook" size="40"> <input name="secret" type="password" placeholder="secret (HMAC key)">
{% for e in events %}<label><input type="checkbox" name="events" value="{{ e }}" checked> {{ e }}</label> {% endfor %}
<button type="submit">Add webhook</button></form>
<h2>Deliveries</h2>
<table id="deliveries"><tr><th>#</th><th>Webhook</th><th>Event</th><th>Status</th><th>Attempts</th><th>Last answer</th><th>When</th><th></th></tr>
{% for d in deliveries %}<tr data-delivery="{{ d.id }}"><td>{{ d.id }}</td><td>{{ d.hook }}</td><td>{{ d.event }}</td>
<td>{{ status(d.status) }}</td><td>{{ d.attempts }}</td><td>{{ d.response }}</td><td>{{ ago(d.created) }}</td>
<td><form method="post" action="/r/{{ repo }}/-/webhooks/redeliver"><input type="hidden" name="id" value="{{ d.id }}">
<button class="redeliver" type="submit">Redeliver</button></form></td></tr>
{% else %}<tr><td colspan="8" class="muted">Nothing sent yet.</td></tr>{% endfor %}
</table>
{% endblock %}
"""


def repository(repo: str, base_url: str) -> dict:
    namespace, _, name = repo.rpartition("/")
    return {"repo_name": repo, "namespace": namespace or "library", "name": name,
            "repo_url": f"{base_url}/r/{repo}", "status": "Active"}


class WebhookPages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.access = pages, pages.access
        self.hooks = Webhooks(pages.state)
        self.sender = Sender(self.hooks)
        self.base_url = ""
        pages.add_templates({"webhooks.html": PAGE})
        pages.worker.finished_hooks.append(self.build_finished)

    def routes(self, app: web.Application) -> None:
        """Register before the hub's `/r/{path}` catch-all; sends with the app's life."""
        app.router.add_get("/r/{repo:.+}/-/webhooks", self.page)
        app.router.add_post("/r/{repo:.+}/-/webhooks", self.add)
        app.router.add_post("/r/{repo:.+}/-/webhooks/remove", self.remove)
        app.router.add_post("/r/{repo:.+}/-/webhooks/redeliver", self.redeliver)
        app.middlewares.append(self.push_events)
        app.on_startup.append(self._start)
        app.on_cleanup.append(lambda _app: self.sender.stop())

    async def _start(self, _app) -> None:
        self.sender.start()

    @web.middleware
    async def push_events(self, request: web.Request, handler):
        resp = await handler(request)
        self.base_url = self.base_url or f"{request.scheme}://{request.host}"  # for the links in payloads
        if request.method == "PUT" and resp.status == 201:
            m = _MANIFEST_PUT.match(request.path)
            if m is not None:
                visitor = await self.access.visitor(request)
                self.push(m["repo"], [m["tag"]], visitor.user or "")
        return resp

    def push(self, repo: str, tags: list[str], pusher: str) -> None:
        for tag in tags:
            self.sender.emit(repo, "push", {
                "callback_url": "", "push_data": {"pushed_at": int(time.time()), "pusher": pusher, "tag": tag},
                "repository": repository(repo, self.base_url)})

    def build_finished(self, build: Build) -> None:
        if build.status == "succeeded" and build.tags:
            self.push(build.source, build.tags.split(","), "dockyard hub build")
        self.sender.emit(build.source, "build", {
            "build": {"id": build.id, "status": build.status, "ref": build.branch, "commit": build.sha,
                      "tags": build.tags.split(",") if build.tags else [], "digest": build.digest,
                      "reason": build.reason, "url": f"{self.base_url}/builds/{build.id}"},
            "repository": repository(build.source, self.base_url)})

    async def _maintainer(self, request: web.Request, repo: str):
        visitor, ok = await self.pages._visible(request, repo)
        if not ok or not is_maintainer(self.access, visitor, repo):
            if ok and request.method == "POST":
                return visitor, refused(request, self.access.has_accounts and visitor.user is None, False)
            return visitor, self.pages.not_found(visitor, f"webhooks page of {repo}")
        if request.method == "POST":
            return visitor, refused(request, False, True)  # still refuses other sites' forms
        return visitor, None

    async def page(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        visitor, refusal = await self._maintainer(request, repo)
        if refusal is not None:
            return refusal
        return self.pages.render("webhooks.html", visitor, repo=repo, hooks=self.hooks.of(repo),
                                 deliveries=self.hooks.deliveries(repo), events=EVENTS)

    async def add(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        _, refusal = await self._maintainer(request, repo)
        if refusal is not None:
            return refusal
        form = await request.post()
        try:
            hook = self.hooks.add(repo, str(form.get("url", "")), str(form.get("secret", "")),
                                  [str(e) for e in form.getall("events", [])])
        except DockyardError as exc:
            return answer(request, 400, {"message": exc.message}, f"/r/{repo}/-/webhooks")
        return answer(request, 201, {"id": hook.id, "events": hook.events.split(",")}, f"/r/{repo}/-/webhooks")

    async def remove(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        _, refusal = await self._maintainer(request, repo)
        if refusal is not None:
            return refusal
        try:
            self.hooks.remove(repo, int(str((await request.post()).get("id", ""))))
        except (ValueError, DockyardError):
            return answer(request, 404, {"message": f"{repo} has no such webhook"}, f"/r/{repo}/-/webhooks")
        return answer(request, 200, {"removed": True}, f"/r/{repo}/-/webhooks")

    async def redeliver(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        _, refusal = await self._maintainer(request, repo)
        if refusal is not None:
            return refusal
        try:
            delivery = self.hooks.delivery(int(str((await request.post()).get("id", ""))))
            if self.hooks.get(delivery.hook).repo != repo:
                raise ValueError
            new = self.sender.redeliver(delivery.id)
        except (ValueError, DockyardError):
            return answer(request, 404, {"message": f"{repo} has no such delivery"}, f"/r/{repo}/-/webhooks")
        return answer(request, 202, {"delivery": new}, f"/r/{repo}/-/webhooks")
