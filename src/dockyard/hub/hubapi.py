"""Docker Hub's own API (not the registry's), for the tools and scripts written against it:

    POST /v2/users/login                          {"username", "password"} -> {"token": JWT}
    POST /v2/users/2fa-login                      {"login_2fa_token", "code"} -> {"token": JWT}
    GET  /v2/repositories/NS/                     the namespace's repositories (paginated)
    GET  /v2/repositories/NS/REPO/                one repository
    GET  /v2/repositories/NS/REPO/tags            its tags, newest push first (?page=&page_size=&name=)
    GET  /v2/repositories/NS/REPO/tags/TAG/       one tag
    DELETE /v2/repositories/NS/REPO/tags/TAG/     delete a tag (204)
    POST|DELETE /v2/repositories/NS/REPO/stars/   star or unstar

also under `/v2/namespaces/NS/repositories/REPO/...`, the newer spelling, with or without
the final slash. The token from login goes in `Authorization: Bearer` (or `JWT`); a personal
access token or password in Basic auth does too. With two-factor sign-in on, a password logs in
in two steps as on Docker Hub (the first answers 401 with `login_2fa_token`); a personal
access token logs in at once.

These paths share `/v2/` with the registry API, so they are served by a middleware ahead of
the registry's router; what the registry answers (`/v2/NAME/tags/list`, manifests, blobs) keeps
going there. Errors are `{"detail": ..., "message": ...}` as Docker Hub answers them.
"""

from __future__ import annotations

import functools
import json
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.hub.accounts import policy
from dockyard.hub.maintainers import is_maintainer
from dockyard.registry import errors as registry_errors
from dockyard.registry import names

if TYPE_CHECKING:
    from dockyard.hub.tags.pages import TagPages
    from dockyard.hub.web import Pages

_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO = rf"(?:repositories/(?P<ns>{_NAME})/(?P<repo>{_NAME})|namespaces/(?P<ns2>{_NAME})/repositories/(?P<repo2>{_NAME}))"
ROUTES = [
    (re.compile(r"users/login/?"), "login"),
    (re.compile(r"users/2fa-login/?"), "login_2fa"),
    (re.compile(rf"(?:repositories|namespaces)/(?P<ns>{_NAME})/(?:repositories/)?"), "namespace"),
    (re.compile(rf"{_REPO}/?"), "repository"),
    (re.compile(rf"{_REPO}/tags/?"), "tags"),
    (re.compile(rf"{_REPO}/tags/(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})/?"), "tag"),
    (re.compile(rf"{_REPO}/stars/?"), "stars"),
]
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 10, 100
MAX_BODY = 16 << 10


def _error(status: int, detail: str, **extra: Any) -> web.Response:
    return web.json_response({"detail": detail, "message": detail, **extra}, status=status)


class _Refused(Exception):
    """A request answered early with `response` (an error): raised by the checks a handler
    makes, answered by the middleware, so each handler reads as its own logic."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _refuse(status: int, detail: str, **extra: Any) -> _Refused:
    return _Refused(_error(status, detail, **extra))


def _answers(*methods: str, use: str = ""):
    """A handler of the request methods given; another method is a 405 saying `use` (by
    default: "use GET or DELETE", of the methods)."""
    def wrap(handler):
        @functools.wraps(handler)
        async def checked(self, request: web.Request, **route: str) -> web.Response:
            if request.method not in methods:
                return _error(405, use or "use " + " or ".join(methods))
            return await handler(self, request, **route)
        return checked
    return wrap


def _throttled(exc) -> web.Response:
    response = _error(429, exc.message)
    response.headers["Retry-After"] = str(exc.wait)
    return response


def _iso(t: float | None) -> str | None:
    if not t:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def _page_numbers(request: web.Request) -> tuple[int, int]:
    try:
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("page_size", str(DEFAULT_PAGE_SIZE)))
    except ValueError:
        raise _refuse(400, "page and page_size must be whole numbers") from None
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise _refuse(400, f"page must be at least 1 and page_size from 1 to {MAX_PAGE_SIZE}")
    return page, size


def _paginated(request: web.Request, items: list, page: int, size: int) -> dict:
    def link(number: int) -> str:
        return str(request.url.with_query({**request.query, "page": str(number), "page_size": str(size)}))

    last = -(-len(items) // size)
    return {"count": len(items), "next": link(page + 1) if page < last else None,
            "previous": link(page - 1) if 1 < page <= last + 1 else None,
            "results": items[(page - 1) * size:page * size]}


class HubApi:
    def __init__(self, pages: Pages, tags: TagPages) -> None:
        self.pages, self.tag_pages = pages, tags
        self.access, self.state, self.catalog, self.info = pages.access, pages.state, pages.catalog, pages.info
        self.accounts = getattr(self.access, "accounts", None)  # None: a hub without its own accounts

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path.startswith("/v2/"):
            tail = request.path[4:]
            for pattern, name in ROUTES:
                m = pattern.fullmatch(tail)
                if m and not (name == "tag" and m["tag"] == "list" and not tail.endswith("/")):  # the registry's
                    # ns2/repo2: the newer spelling's names for ns/repo
                    route = {k.rstrip("2"): v for k, v in m.groupdict().items() if v}
                    try:
                        return await getattr(self, name)(request, **route)
                    except _Refused as refused:
                        return refused.response
        return await handler(request)

    # -- who calls --------------------------------------------------------------------------

    async def _caller(self, request: web.Request):
        """(user or None, level function repo -> int); refused (401) for credentials that are wrong."""
        if self.accounts is None:
            visitor = await self.access.visitor(request)
            if request.headers.get("Authorization") and visitor.user is None:
                raise _refuse(401, "Incorrect authentication credentials")

            def level(repo: str) -> int:
                if not self.access.may_see(visitor, repo, self.state.private_repos()):
                    return policy.NONE
                return policy.ADMIN if is_maintainer(self.access, visitor, repo) else policy.READ
            return visitor.user, level
        from dockyard.hub.accounts.access import Principal

        principal = Principal(None)
        if request.headers.get("Authorization"):
            try:
                principal = await self.access.principal(request)
            except registry_errors.RegistryError as exc:  # two-factor users' passwords, too many failures
                refused = _refuse(exc.status, exc.message)
                refused.response.headers.update(exc.headers)
                raise refused from None
            if principal is None:
                raise _refuse(401, "Incorrect authentication credentials")
        return principal.user, lambda repo: self.access.level(principal, repo)

    async def _repository(self, request: web.Request, ns: str, repo: str):
        """(user, level, full name) of a repository the caller may see; refused (404) otherwise
        (a private one is not confirmed to exist)."""
        user, level = await self._caller(request)
        name = f"{ns}/{repo}"
        if not names.is_valid_name(name) or level(name) < policy.READ or not self.catalog.storage.repo_exists(name):
            raise _refuse(404, "Object not found")
        return user, level(name), name

    # -- login ----------------------------------------------------------------------------

    async def _login_body(self, request: web.Request) -> dict:
        """The JSON object a login step posts; refused for a request that is not one."""
        if self.accounts is None:
            raise _refuse(404, "this hub has no accounts of its own (hub serve --auth accounts)")
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise _refuse(413, "the request body is too large")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _refuse(400, "the body must be a JSON object")
        return body

    @_answers("POST")
    async def login(self, request: web.Request) -> web.Response:
        body = await self._login_body(request)
        user, secret = str(body.get("username", "")), str(body.get("password", ""))
        from dockyard.hub.accounts.access import TooManyAttempts

        try:
            principal = await self.access.attempt(request, user, secret)
        except TooManyAttempts as exc:
            return _throttled(exc)
        if principal is None:
            return _error(401, "Incorrect authentication credentials")
        if principal.scope is None and self.accounts.has_totp(user):
            return _error(401, "Require secondary authentication on MFA enabled account",
                          login_2fa_token=self.access.second_factor_ticket(user))
        return self._token(principal)

    @_answers("POST")
    async def login_2fa(self, request: web.Request) -> web.Response:
        body = await self._login_body(request)
        from dockyard.hub.accounts.access import Principal, TooManyAttempts

        try:
            user = await self.access.second_factor(request, str(body.get("login_2fa_token", "")),
                                                   str(body.get("code", "")))
        except TooManyAttempts as exc:
            return _throttled(exc)
        if user is None:
            return _error(401, "Incorrect authentication credentials: the code is wrong or used, or the login token expired")
        return self._token(Principal(user))

    def _token(self, principal) -> web.Response:
        token, _ = self.access.api_signer.issue(principal.user, [], self.access.claims_of(principal))
        return web.json_response({"token": token})

    # -- repositories ---------------------------------------------------------------------

    def _summary(self, name: str) -> dict:
        tags = self.catalog.tags(name)
        ns, _, short = name.partition("/")
        texts = self.info.texts(name)
        pulls = self.info.pulls(name)
        return {
            "user": ns, "name": short, "namespace": ns, "hub_user": ns, "repository_type": "image",
            "status": 1, "status_description": "active", "description": texts.description,
            "is_private": name in self.state.private_repos(),
            "is_automated": any(s.repo == name for s in self.state.sources()),
            "star_count": self.info.star_count(name), "pull_count": sum(p.count for p in pulls.values()),
            "last_updated": _iso(max((t.pushed for t in tags), default=0)),
            "date_registered": _iso(min((t.pushed for t in tags), default=0)),
            "affiliation": None, "media_types": sorted({t.image.media_type for t in tags}),
            "content_types": ["image"] if tags else [], "categories": [],
            "storage_size": sum(t.image.size for t in tags),
        }

    @_answers("GET")
    async def namespace(self, request: web.Request, ns: str) -> web.Response:
        _, level = await self._caller(request)
        numbers = _page_numbers(request)
        found = []
        for name in sorted(self.catalog.storage.repositories()):
            if name.startswith(ns + "/") and name.count("/") == 1 and level(name) >= policy.READ:
                found.append(self._summary(name))
        return web.json_response(_paginated(request, found, *numbers))

    @_answers("GET")
    async def repository(self, request: web.Request, ns: str, repo: str) -> web.Response:
        user, level, name = await self._repository(request, ns, repo)
        summary = self._summary(name)
        summary.update(full_description=self.info.texts(name).readme, has_starred=self.info.has_starred(name, user),
                       collaborator_count=len(self.accounts.grants(name)) if self.accounts else 0,
                       permissions={"read": level >= policy.READ, "write": level >= policy.WRITE,
                                    "admin": level >= policy.ADMIN})
        return web.json_response(summary)

    def _tag(self, name: str, tag) -> dict:
        image, pulled = tag.image, self.info.pulls(name).get(tag.name)
        platforms = [{"architecture": image.architecture, "os": image.os, "variant": None, "digest": image.digest,
                      "size": image.size, "status": "active", "last_pushed": _iso(tag.pushed),
                      "last_pulled": _iso(pulled.last) if pulled else None}] if not image.is_index else [
            {"architecture": p.split("/")[1] if "/" in p else p, "os": p.split("/")[0],
             "variant": p.split("/")[2] if p.count("/") == 2 else None, "digest": d, "status": "active",
             "last_pushed": _iso(tag.pushed), "last_pulled": None} for p, d in image.children]
        return {"name": tag.name, "digest": image.digest, "media_type": image.media_type,
                "content_type": "image", "full_size": image.size, "images": platforms, "v2": True,
                "tag_status": "active", "last_updated": _iso(tag.pushed), "tag_last_pushed": _iso(tag.pushed),
                "tag_last_pulled": _iso(pulled.last) if pulled else None, "repository": name,
                "last_updater_username": None}

    @_answers("GET", "HEAD", use="use GET")
    async def tags(self, request: web.Request, ns: str, repo: str) -> web.Response:
        _, _, name = await self._repository(request, ns, repo)
        numbers = _page_numbers(request)
        wanted = request.query.get("name", "")
        listed = [self._tag(name, t) for t in self.catalog.tags(name) if wanted in t.name]
        if request.method == "HEAD":
            return web.Response(status=200 if listed else 404)
        return web.json_response(_paginated(request, listed, *numbers))

    @_answers("GET", "DELETE")
    async def tag(self, request: web.Request, ns: str, repo: str, tag: str) -> web.Response:
        user, level, name = await self._repository(request, ns, repo)
        match = next((t for t in self.catalog.tags(name) if t.name == tag), None)
        if request.method == "GET":
            return _error(404, "Object not found") if match is None else web.json_response(self._tag(name, match))
        if level < policy.ADMIN:
            return _error(401 if user is None else 403, "You do not have permission to perform this action.")
        if match is None or not self.tag_pages.delete_tag(user, name, tag, "hub api"):
            return _error(404, "Object not found")
        return web.Response(status=204)

    @_answers("POST", "DELETE")
    async def stars(self, request: web.Request, ns: str, repo: str) -> web.Response:
        user, _, name = await self._repository(request, ns, repo)
        if user is None:
            return _error(401, "Authentication credentials were not provided.")
        self.info.star(name, user, request.method == "POST")
        return web.json_response({"star_count": self.info.star_count(name), "has_starred": request.method == "POST"})
