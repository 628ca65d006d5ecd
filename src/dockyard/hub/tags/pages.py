"""The tag management page and its actions, plus the server's retention sweep and collector.

    /r/NAME/-/tags                   tags (newest push first) with delete buttons, retention rules
    POST /r/NAME/-/tags/delete       delete tag `tag` (form) (maintainers)
    DELETE /r/NAME/-/tags/TAG        the same for API clients (JSON)
    POST /r/NAME/-/retention         set (`pattern`, `keep`) or remove (`pattern`, `remove=1`) a rule

Every deletion asks the collector for a garbage collection and goes to the audit log (a
retention rule's as deleted by `retention rule`); retention rules are applied when set and
every RETENTION_SWEEP seconds (tags pushed by clients expire too).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.errors import DockyardError
from dockyard.hub.accounts.store import Accounts
from dockyard.hub.actions import answer, refused
from dockyard.hub.maintainers import is_maintainer
from dockyard.hub.tags import retention
from dockyard.hub.tags.collector import Collector
from dockyard.registry import errors as registry_errors

if TYPE_CHECKING:
    from dockyard.hub.web import Pages

log = logging.getLogger(__name__)
RETENTION_SWEEP = 10.0

TAGS = """{% extends "base.html" %}
{% block title %}Tags of {{ repo }} · dockyard hub{% endblock %}
{% block main %}
<h1><a href="/r/{{ repo }}">{{ repo }}</a> · tags</h1>
<table id="tag-admin"><tr><th>Tag</th><th>Digest</th><th>Pushed</th><th></th></tr>
{% for t in tags %}<tr data-tag="{{ t.name }}"><td><a href="/r/{{ repo }}/-/image/{{ t.name }}">{{ t.name }}</a></td>
<td><code>{{ t.image.digest[7:19] }}</code></td><td>{{ ago(t.pushed) }}</td>
<td>{% if maintainer %}<form method="post" action="/r/{{ repo }}/-/tags/delete"><input type="hidden" name="tag" value="{{ t.name }}">
<button class="delete-tag" type="submit">Delete</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="4" class="muted">No tags.</td></tr>{% endfor %}
</table>
<h2>Retention</h2>
<table id="retention"><tr><th>Tag pattern</th><th>Keep newest</th></tr>
{% for r in rules %}<tr><td><code>{{ r.pattern }}</code></td><td>{{ r.keep }}</td></tr>
{% else %}<tr><td colspan="2" class="muted">Every tag is kept.</td></tr>{% endfor %}
</table>
{% if maintainer %}<form method="post" action="/r/{{ repo }}/-/retention" id="retention-form">
Keep the newest <input name="keep" type="number" min="1" value="10" size="4"> tags matching <input name="pattern" value="*" size="12">
<button type="submit">Set rule</button></form>{% endif %}
{% endblock %}
"""


class TagPages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.state, self.access, self.catalog = pages, pages.state, pages.access, pages.catalog
        self.storage = pages.catalog.storage
        self.rules = retention.RetentionRules(pages.state)
        self.collector = Collector(pages.state.root)
        self.accounts = getattr(pages.access, "accounts", None) or Accounts(pages.state.db)  # for its audit log
        pages.add_templates({"tags.html": TAGS})
        self._sweeper: asyncio.Task | None = None

    def routes(self, app: web.Application) -> None:
        """Register before the hub's `/r/{path}` catch-all; starts the sweep and collector with the app."""
        app.router.add_get("/r/{repo:.+}/-/tags", self.tags)
        app.router.add_post("/r/{repo:.+}/-/tags/delete", self.delete)
        app.router.add_delete("/r/{repo:.+}/-/tags/{tag}", self.delete)
        app.router.add_post("/r/{repo:.+}/-/retention", self.set_retention)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    async def _start(self, _app) -> None:
        self.collector.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _stop(self, _app) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.collector.stop()

    async def _sweep(self) -> None:
        while True:
            await self._expire(None)
            await asyncio.sleep(RETENTION_SWEEP)

    async def _expire(self, repo: str | None) -> list[str]:
        """Apply the retention rules (of `repo`, or all); returns the tags deleted."""
        deleted = await asyncio.get_running_loop().run_in_executor(None, retention.apply, self.storage, self.rules, repo)
        if deleted:
            log.info("retention deleted %s", ", ".join(f"{r}:{t}" for r, t in deleted))
            self.collector.request()
        return [tag for _, tag in deleted]

    async def _maintainer(self, request: web.Request, repo: str):
        """(visitor, refusal or None) for an action on `repo`."""
        visitor, ok = await self.pages._visible(request, repo)
        if not ok:
            return visitor, self.pages.not_found(visitor, f"repository {repo}")
        return visitor, refused(request, self.access.has_accounts and visitor.user is None,
                                is_maintainer(self.access, visitor, repo))

    async def tags(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        visitor, ok = await self.pages._visible(request, repo)
        try:
            tags = self.catalog.tags(repo) if ok else None
        except registry_errors.RegistryError:
            tags = None
        if tags is None:
            return self.pages.not_found(visitor, f"repository {repo}")
        return self.pages.render("tags.html", visitor, repo=repo, tags=tags, rules=self.rules.rules(repo),
                                 maintainer=is_maintainer(self.access, visitor, repo))

    async def delete(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        visitor, refusal = await self._maintainer(request, repo)
        if refusal is not None:
            return refusal
        tag = str(request.match_info.get("tag") or (await request.post()).get("tag", ""))
        if not self.delete_tag(visitor.user, repo, tag, "tag page"):
            return answer(request, 404, {"message": f"{repo} has no tag {tag!r}"}, f"/r/{repo}/-/tags")
        return answer(request, 202, {"deleted": f"{repo}:{tag}"}, f"/r/{repo}/-/tags")

    def delete_tag(self, user: str | None, repo: str, tag: str, kind: str) -> bool:
        """Delete `repo:tag` for `user` (checked by the caller) through `kind` of request: audited,
        collected; False if there is no such tag."""
        try:
            self.storage.delete_tag(repo, tag)
        except registry_errors.RegistryError:
            return False
        log.info("%s deleted %s:%s", user or "a visitor", repo, tag)
        self.accounts.audit(user, "delete", repo, json.dumps({"tag": tag, "kind": kind}))
        self.collector.request()
        return True

    async def set_retention(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        visitor, refusal = await self._maintainer(request, repo)
        if refusal is not None:
            return refusal
        form = await request.post()
        pattern = str(form.get("pattern", ""))
        try:
            if form.get("remove"):
                self.rules.remove(repo, pattern)
                return answer(request, 200, {"removed": pattern}, f"/r/{repo}/-/tags")
            rule = self.rules.set(repo, pattern, int(str(form.get("keep", ""))))
        except ValueError:
            return answer(request, 400, {"message": f"keep must be a number, not {form.get('keep')!r}"},
                          f"/r/{repo}/-/tags")
        except DockyardError as exc:
            return answer(request, 400, {"message": exc.message}, f"/r/{repo}/-/tags")
        deleted = await self._expire(repo)
        return answer(request, 200, {"pattern": rule.pattern, "keep": rule.keep, "deleted": deleted},
                      f"/r/{repo}/-/tags")
