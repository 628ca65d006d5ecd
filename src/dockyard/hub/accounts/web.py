"""Pages of the hub's accounts: sign in and out, access tokens, organizations, a repository's
settings (description, README, visibility, permissions) and the audit log.

    GET/POST /login, POST /logout
    GET/POST /settings/tokens, POST /settings/tokens/ID/revoke
    GET/POST /orgs, GET /orgs/ORG, POST /orgs/ORG/teams, POST /orgs/ORG/members
    GET /r/NAME/-/settings, POST /r/NAME/-/settings/{texts,visibility,grants}   (admins of NAME)
    GET /audit                                                                   (site admins)

Every POST must carry the visitor's CSRF token (accounts/access.py); a form's mistake answers
400 with the page and one line saying what was wrong.
"""

from __future__ import annotations

import functools
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.hub.access import Visitor
from dockyard.hub.accounts import policy
from dockyard.hub.accounts.access import SESSION_COOKIE, AccountsAccess, TooManyAttempts, csrf_ok
from dockyard.hub.discovery.info import RepoInfo
from dockyard.registry import names

if TYPE_CHECKING:
    from dockyard.hub.web import Pages

MAX_FORM = 64 << 10


class _Refused(Exception):
    """Raised to answer a request with `response` (the registry's error middleware would turn an
    HTTPException into a JSON error body, and these are pages)."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


def _answering_refusals(handler):
    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Refused as refused:
            return refused.response
    return run


_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")


def _safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site only. Not `//host`, `/\\host`, a URL, nor
    anything with blanks or control characters, which browsers drop (a tab between two slashes
    leaves `//host`)."""
    return target if _LOCAL_PATH.fullmatch(target) else "/"


class AccountPages:
    def __init__(self, pages: Pages, access: AccountsAccess, info: RepoInfo) -> None:
        from dockyard.hub.accounts.templates import TEMPLATES

        self.pages, self.access, self.info = pages, access, info
        self.accounts, self.state = access.accounts, access.state
        pages.add_templates(TEMPLATES)
        pages.env.globals.update(level_names=policy.LEVEL_NAMES,
                                 day=lambda t: time.strftime("%Y-%m-%d", time.gmtime(t)))

    def routes(self, app: web.Application) -> None:
        """Add the routes; before the hub's own, whose `/r/{path}` would take `/-/settings` too."""
        for name in ("login", "logout", "create_token", "revoke_token", "create_org", "add_team", "change_member",
                     "change_settings"):
            setattr(self, name, _answering_refusals(getattr(self, name)))
        app.router.add_get("/login", self.login_form)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/settings/tokens", self.tokens)
        app.router.add_post("/settings/tokens", self.create_token)
        app.router.add_post("/settings/tokens/{id}/revoke", self.revoke_token)
        app.router.add_get("/orgs", self.orgs)
        app.router.add_post("/orgs", self.create_org)
        app.router.add_get("/orgs/{org}", self.org)
        app.router.add_post("/orgs/{org}/teams", self.add_team)
        app.router.add_post("/orgs/{org}/members", self.change_member)
        app.router.add_get("/r/{repo:.+}/-/settings", self.settings)
        app.router.add_post("/r/{repo:.+}/-/settings/{what:texts|visibility|grants}", self.change_settings)
        app.router.add_get("/audit", self.audit)

    # -- plumbing -------------------------------------------------------------------------

    def render(self, name: str, visitor: Visitor, status: int = 200, **values: Any) -> web.Response:
        return self.pages.render(name, visitor, status, host=values.pop("host", ""), **values)

    async def _form(self, request: web.Request) -> tuple[Visitor, dict[str, str]]:
        """The visitor and the posted form; 403 without the right CSRF token."""
        visitor = await self.access.visitor(request)
        if request.content_length is not None and request.content_length > MAX_FORM:
            raise _Refused(self.pages.render("message.html", visitor, 413, heading="Too large",
                                             text=f"A form may send at most {MAX_FORM} bytes."))
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if not csrf_ok(request, form.get("csrf", "")):
            raise _Refused(self.pages.render("message.html", visitor, 403, heading="Form refused",
                                             text="The form has expired or came from another site: reload the page and try again."))
        return visitor, form

    def _signed_in(self, request: web.Request, visitor: Visitor) -> str:
        if visitor.user is None:
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
        return visitor.user

    # -- sign in and out ------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        return self.render("login.html", visitor, next=_safe_next(request.query.get("next", "/")), failure="")

    async def login(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        user, password = form.get("user", "").strip(), form.get("password", "")
        try:
            principal = await self.access.attempt(request, user, password)
        except TooManyAttempts as exc:
            return self.render("login.html", visitor, 429, next=_safe_next(form.get("next", "/")),
                               failure=f"Too many failed attempts: try again in {exc.wait} s.")
        if principal is None or principal.scope is not None:  # tokens are for docker login, not the pages
            return self.render("login.html", visitor, 401, next=_safe_next(form.get("next", "/")),
                               failure="Incorrect user name or password.")
        sid = self.accounts.open_session(user)
        response = web.HTTPSeeOther(_safe_next(form.get("next", "/")))
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Lax", path="/")
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        await self._form(request)
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            self.accounts.close_session(sid)
        response = web.HTTPSeeOther("/")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    # -- tokens ---------------------------------------------------------------------------

    def _tokens_page(self, request: web.Request, visitor: Visitor, user: str, status: int = 200,
                     secret: str = "", failure: str = "") -> web.Response:
        return self.render("tokens.html", visitor, status, tokens=self.accounts.tokens(user), scopes=list(policy.SCOPES),
                           secret=secret, failure=failure, host=request.host)

    async def tokens(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        return self._tokens_page(request, visitor, self._signed_in(request, visitor))

    async def create_token(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        user = self._signed_in(request, visitor)
        try:
            days = form.get("days", "")
            if days and not days.isdigit():
                raise InvalidArgument(f"a token's lifetime is a number of days, not {days[:20]!r}")
            _, secret = self.accounts.create_token(user, form.get("name", ""), form.get("scope", ""),
                                                   days=int(days) if days else None)
        except DockyardError as exc:
            return self._tokens_page(request, visitor, user, 400, failure=exc.message)
        return self._tokens_page(request, visitor, user, secret=secret)

    async def revoke_token(self, request: web.Request) -> web.Response:
        visitor, _ = await self._form(request)
        user = self._signed_in(request, visitor)
        try:
            self.accounts.revoke_token(user, request.match_info["id"])
        except DockyardError as exc:
            return self._tokens_page(request, visitor, user, 404, failure=exc.message)
        raise web.HTTPSeeOther("/settings/tokens")

    # -- organizations --------------------------------------------------------------------

    async def orgs(self, request: web.Request, failure: str = "", status: int = 200) -> web.Response:
        visitor = await self.access.visitor(request)
        user = self._signed_in(request, visitor)
        return self.render("orgs.html", visitor, status, orgs=self.accounts.user_orgs(user), failure=failure)

    async def create_org(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        user = self._signed_in(request, visitor)
        name = form.get("name", "").strip()
        try:
            self.accounts.add_org(name, user, actor=user)
        except DockyardError as exc:
            return await self.orgs(request, exc.message, 400)
        raise web.HTTPSeeOther(f"/orgs/{name}")

    async def org(self, request: web.Request, failure: str = "", status: int = 200) -> web.Response:
        visitor = await self.access.visitor(request)
        user = self._signed_in(request, visitor)
        org = request.match_info["org"]
        if org not in self.accounts.user_orgs(user) and not self.accounts.is_site_admin(user):
            return self.pages.not_found(visitor, f"organization {org}")
        owner = f"{org}/{policy.OWNERS}" in self.accounts.user_teams(user) or self.accounts.is_site_admin(user)
        return self.render("org.html", visitor, status, org=org, teams=self.accounts.teams(org), owner=owner,
                           failure=failure)

    async def _org_change(self, request: web.Request, change) -> web.Response:
        visitor, form = await self._form(request)
        user = self._signed_in(request, visitor)
        org = request.match_info["org"]
        if f"{org}/{policy.OWNERS}" not in self.accounts.user_teams(user) and not self.accounts.is_site_admin(user):
            return self.pages.not_found(visitor, f"organization {org}")
        try:
            change(org, form, user)
        except DockyardError as exc:
            return await self.org(request, exc.message, 400)
        raise web.HTTPSeeOther(f"/orgs/{org}")

    async def add_team(self, request: web.Request) -> web.Response:
        return await self._org_change(request, lambda org, form, user: self.accounts.add_team(
            org, form.get("team", "").strip(), actor=user))

    async def change_member(self, request: web.Request) -> web.Response:
        return await self._org_change(request, lambda org, form, user: self.accounts.set_member(
            org, form.get("team", ""), form.get("user", "").strip(), form.get("action") != "remove", actor=user))

    # -- repository settings --------------------------------------------------------------

    def _admin_of(self, visitor: Visitor, repo: str) -> web.Response | None:
        """None if `visitor` administers `repo`; otherwise the page to answer with."""
        if not names.is_valid_name(repo) or not self.access.may_see(visitor, repo, self.state.private_repos()):
            return self.pages.not_found(visitor, f"repository {repo}")
        if self.access.visitor_level(visitor, repo) < policy.ADMIN:
            return self.pages.render("message.html", visitor, 403, heading="Not allowed",
                                     text=f"Only administrators of {repo} may change its settings.")
        return None

    def _settings_page(self, visitor: Visitor, repo: str, status: int = 200, failure: str = "") -> web.Response:
        return self.render("settings.html", visitor, status, repo=repo, texts=self.info.texts(repo),
                           is_private=repo in self.state.private_repos(), grants=self.accounts.grants(repo),
                           audit=self.accounts.audit_log(repo, limit=100), failure=failure)

    async def settings(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        if visitor.user is None:
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
        repo = request.match_info["repo"]
        return self._admin_of(visitor, repo) or self._settings_page(visitor, repo)

    async def change_settings(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        repo, what = request.match_info["repo"], request.match_info["what"]
        refused = self._admin_of(visitor, repo)
        if refused is not None:
            return refused
        try:
            if what == "texts":
                self.info.set_texts(repo, form.get("description", ""), form.get("readme", ""))
                self.accounts.audit(visitor.user, "describe", repo)
            elif what == "visibility":
                private = form.get("visibility") == "private"
                self.state.set_private(repo, private)
                self.accounts.audit(visitor.user, "visibility", repo, "private" if private else "public")
            else:
                text = form.get("level", "")
                level = policy.NONE if text == "none" else policy.parse_level(text)
                self.accounts.grant(repo, form.get("grantee", "").strip(), level, actor=visitor.user)
        except DockyardError as exc:
            return self._settings_page(visitor, repo, 400, exc.message)
        raise web.HTTPSeeOther(f"/r/{repo}/-/settings")

    # -- audit ----------------------------------------------------------------------------

    async def audit(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        user = self._signed_in(request, visitor)
        if not self.accounts.is_site_admin(user):
            return self.pages.render("message.html", visitor, 403, heading="Not allowed",
                                     text="Only site administrators may read the whole audit log.")
        return self.render("audit.html", visitor, audit=self.accounts.audit_log(limit=500))
