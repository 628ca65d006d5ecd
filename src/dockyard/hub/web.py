"""The hub's web pages and webhook endpoint, added to the registry's aiohttp application.

Routes (repository names contain slashes, so what follows a name comes after `/-/`):

    /                              repositories, `?q=` filters on the server
    /r/NAME                        tags, recent builds, layer graph
    /r/NAME/-/image/REF            one image (REF: tag or digest)
    POST /r/NAME/-/star            star (star=1) or unstar (star=0), signed-in visitors
    /builds                        the build queue (one build: dockyard.hub.builds.pages)
    /login                         asks the browser for Basic credentials
    POST /hooks/git/NAME           signed push webhook
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from markupsafe import Markup

from dockyard.cli.formatting import human_ago, human_duration, human_size
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.hub import graph, hooks
from dockyard.hub.access import HubAccess, Visitor
from dockyard.hub.accounts import policy
from dockyard.hub.actions import refused
from dockyard.hub.builds.trigger import queue_push
from dockyard.hub.catalog import Catalog, created_text
from dockyard.hub.discovery import contents, markdown, readme
from dockyard.hub.discovery.info import RepoInfo
from dockyard.hub.runner import Worker
from dockyard.hub.state import Build, HubState
from dockyard.registry import errors as registry_errors
from dockyard.registry import names

GRAPH_MAX_TAGS = 200


def _duration(build: Build) -> str:
    seconds = build.duration
    return "" if seconds is None else human_duration(seconds)


class Pages:
    def __init__(self, state: HubState, catalog: Catalog, access: HubAccess, worker: Worker, info: RepoInfo) -> None:
        from dockyard.hub.templates import environment

        self.state, self.catalog, self.access, self.worker, self.info = state, catalog, access, worker, info
        self.env = environment()
        self.env.globals.update(size=human_size, created=created_text, duration=_duration,
                                ago=lambda t: human_ago(time.time() - t), accounts=access.has_accounts,
                                signup_open=lambda: False)  # the hub's own accounts open it (accounts/web.py)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.repositories)
        app.router.add_get("/r/{path:.+}", self.repository_or_image)
        app.router.add_post("/r/{repo:.+}/-/star", self.star)
        app.router.add_get("/builds", self.builds)
        app.router.add_get("/login", self.login)
        app.router.add_post("/hooks/git/{source:.+}", self.webhook)

    def add_templates(self, templates: dict[str, str]) -> None:
        """Templates of one part of the hub (builds, tags, accounts...), found before the base ones."""
        import jinja2

        self.env.loader = jinja2.ChoiceLoader([jinja2.DictLoader(templates), self.env.loader])

    def render(self, name: str, visitor: Visitor, status: int = 200, **values: Any) -> web.Response:
        html = self.env.get_template(name).render(visitor=visitor, **values)
        return web.Response(text=html, content_type="text/html", status=status)

    def not_found(self, visitor: Visitor, what: str) -> web.Response:
        return self.render("message.html", visitor, 404, heading="Not found", text=f"There is no {what} here.")

    async def _visible(self, request: web.Request, repo: str) -> tuple[Visitor, bool]:
        visitor = await self.access.visitor(request)
        ok = names.is_valid_name(repo) and self.access.may_see(visitor, repo, self.state.private_repos())
        return visitor, ok

    # -- pages ----------------------------------------------------------------------------

    async def repositories(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        q = request.query.get("q", "").strip().lower()
        sort = "stars" if request.query.get("sort") == "stars" else "name"
        private = self.state.private_repos()
        everything = self.catalog.repositories()
        self.info.sync(r.name for r in everything)
        about = self.info.descriptions()
        stars = self.info.star_counts()
        readable = self.access.readable_private(visitor, private)
        repos = [r for r in everything if (q in r.name or q in about.get(r.name, "").lower())
                 and (r.name not in private or r.name in readable)]
        if sort == "stars":
            repos.sort(key=lambda r: -stars.get(r.name, 0))  # stable: by name among equals
        return self.render("repos.html", visitor, repos=repos, q=q, private=private, about=about, stars=stars, sort=sort)

    async def repository_or_image(self, request: web.Request) -> web.Response:
        repo, sep, rest = request.match_info["path"].partition("/-/")
        visitor, ok = await self._visible(request, repo)
        if not ok:
            return self.not_found(visitor, f"repository {repo}")
        try:
            if not sep:
                return self._repository(request, visitor, repo)
            kind, _, reference = rest.partition("/")
            if kind == "image" and reference:
                return await self._image(request, visitor, repo, reference)
        except registry_errors.RegistryError:
            pass
        return self.not_found(visitor, f"{repo}/-/{rest}" if sep else f"repository {repo}")

    def _repository(self, request: web.Request, visitor: Visitor, repo: str) -> web.Response:
        tags = self.catalog.tags(repo)
        shown = tags[:GRAPH_MAX_TAGS]
        note = f"The {len(shown)} most recently pushed of {len(tags)} tags." if len(tags) > len(shown) else ""
        svg = graph.svg(graph.build(shown, human_size), lambda t: f"/r/{repo}/-/image/{t}")
        texts = self.info.texts(repo)
        source = next((s for s in self.state.sources() if s.repo == repo), None)
        text = texts.readme or (readme.from_git(source) if source else "")
        level = getattr(self.access, "visitor_level", None)
        return self.render("repo.html", visitor, repo=repo, tags=tags, host=request.host,
                           is_private=repo in self.state.private_repos(), builds=self.state.builds(repo, limit=10),
                           graph=Markup(svg), graph_note=note, description=texts.description,
                           readme=Markup(markdown.render(text)) if text else "", pulls=self.info.pulls(repo),
                           star_count=self.info.star_count(repo), starred=self.info.has_starred(repo, visitor.user),
                           admin=level is not None and level(visitor, repo) >= policy.ADMIN)

    async def _image(self, request: web.Request, visitor: Visitor, repo: str, reference: str) -> web.Response:
        image = self.catalog.image(repo, reference)
        cfg = image.config if isinstance(image.config, dict) else {}
        inside = await asyncio.get_running_loop().run_in_executor(
            None, contents.of_image, self.catalog.storage, self.info, repo, image)
        return self.render("image.html", visitor, repo=repo, reference=reference, image=image, cfg=cfg, host=request.host,
                           inside=inside)

    async def star(self, request: web.Request) -> web.Response:
        """Star (form field star=1) or unstar (star=0) a repository the signed-in visitor may see."""
        repo = request.match_info["repo"]
        visitor, ok = await self._visible(request, repo)
        if not ok or not self.catalog.storage.repo_exists(repo):
            return self.not_found(visitor, f"repository {repo}")
        if visitor.user is None:
            if self.access.has_accounts:
                raise web.HTTPSeeOther(f"/login?next=/r/{repo}")
            return self.render("message.html", visitor, 403, heading="Not allowed", text="Stars need a signed-in user.")
        refusal = refused(request, False, True)  # another site's form
        if refusal is not None:
            return refusal
        self.info.star(repo, visitor.user, (await request.post()).get("star", "1") != "0")
        raise web.HTTPSeeOther(f"/r/{repo}")

    async def builds(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        private = self.state.private_repos()
        shown = [b for b in self.state.builds(limit=200) if self.access.may_see(visitor, b.source, private)]
        active = any(b.status in ("queued", "running") for b in shown)
        return self.render("builds.html", visitor, builds=shown, active=active)

    async def login(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        if visitor.user or not self.access.has_accounts:
            raise web.HTTPFound("/")
        return web.Response(status=401, text="Sign in with your registry account.\n",
                            headers={"WWW-Authenticate": 'Basic realm="dockyard hub"'})

    # -- webhook --------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        repo = request.match_info["source"]
        body = await request.read()  # the application's client_max_size (1 MiB) bounds it
        try:
            source = self.state.source(repo)
        except DockyardError:
            return web.json_response({"message": f"no build source {repo!r}"}, status=404)
        if not hooks.signature_ok(source.secret, body, request.headers.get("X-Hub-Signature-256")):
            return web.json_response({"message": "webhook signature does not match the source's secret"}, status=401)
        if request.headers.get("X-GitHub-Event", "push") == "ping":
            return web.json_response({"message": "pong"})
        try:
            ref, sha = hooks.parse_push(body)
        except InvalidArgument as exc:
            return web.json_response({"message": exc.message}, status=400)
        queued = queue_push(self.worker.book, repo, ref, sha, "webhook")
        if not queued:
            return web.json_response({"message": f"{ref} is not built: no build rule of {source.repo} matches it"},
                                     status=202)
        self.worker.wake.set()
        return web.json_response({"build": queued[0][0], "url": f"/builds/{queued[0][0]}",
                                  "builds": [build_id for build_id, _ in queued]}, status=202)
