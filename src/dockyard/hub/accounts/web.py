"""Pages of the hub's accounts: sign in and out, access tokens, organizations, a repository's
settings (description, README, visibility, permissions) and the audit log.

    GET/POST /login, POST /login/2fa (the code, when two-factor sign-in is on), POST /logout
    GET/POST /signup (unless `hub signup closed`), GET/POST /reset/SECRET (an administrator's link)
    GET /settings/security, POST /settings/password, POST /settings/2fa, POST /settings/2fa/off
    GET /admin/users, POST /admin/users/NAME/reset, POST /admin/signup              (site admins)
    GET/POST /settings/tokens, POST /settings/tokens/ID/revoke
    GET/POST /orgs, GET /orgs/ORG, POST /orgs/ORG/teams, POST /orgs/ORG/members
    GET /r/NAME/-/settings, POST /r/NAME/-/settings/{texts,visibility,grants}   (admins of NAME)
    GET /audit                                                                   (site admins)

Every POST must carry the visitor's CSRF token (accounts/access.py); a form's mistake answers
400 with the page and one line saying what was wrong.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.hub.access import Visitor
from dockyard.hub.accounts import policy
from dockyard.hub.accounts.access import SESSION_COOKIE, AccountsAccess, TooManyAttempts, csrf_ok
from dockyard.hub.discovery.info import RepoInfo
from dockyard.registry import names

if TYPE_CHECKING:
    from dockyard.hub.web import Pages

MAX_FORM = 64 << 10


def _same(password: str, again: str) -> None:
    if password != again:
        raise InvalidArgument("the two passwords differ")


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
        pages.env.globals.update(level_names=policy.LEVEL_NAMES, signup_open=self.accounts.signup_open,
                                 day=lambda t: time.strftime("%Y-%m-%d", time.gmtime(t)))

    def routes(self, app: web.Application) -> None:
        """Add the routes; before the hub's own, whose `/r/{path}` would take `/-/settings` too."""
        for name in ("login", "login_code", "logout", "signup", "reset", "change_password", "enable_2fa",
                     "disable_2fa", "issue_reset", "set_signup", "create_token", "revoke_token", "create_org",
                     "add_team", "change_member", "change_settings"):
            setattr(self, name, _answering_refusals(getattr(self, name)))
        app.router.add_get("/login", self.login_form)
        app.router.add_post("/login", self.login)
        app.router.add_post("/login/2fa", self.login_code)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/signup", self.signup_form)
        app.router.add_post("/signup", self.signup)
        app.router.add_get("/reset/{secret}", self.reset_form)
        app.router.add_post("/reset/{secret}", self.reset)
        app.router.add_get("/settings/security", self.security)
        app.router.add_post("/settings/password", self.change_password)
        app.router.add_post("/settings/2fa", self.enable_2fa)
        app.router.add_post("/settings/2fa/off", self.disable_2fa)
        app.router.add_get("/admin/users", self.users)
        app.router.add_post("/admin/users/{user}/reset", self.issue_reset)
        app.router.add_post("/admin/signup", self.set_signup)
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
        if self.accounts.has_totp(user):
            return self.render("login-2fa.html", visitor, next=_safe_next(form.get("next", "/")),
                               ticket=self.access.second_factor_ticket(user), failure="")
        self._open_session(user, form.get("next", "/"))

    async def login_code(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        ticket, target = form.get("ticket", ""), _safe_next(form.get("next", "/"))
        try:
            user = await self.access.second_factor(request, ticket, form.get("code", ""))
        except TooManyAttempts as exc:
            return self.render("login.html", visitor, 429, next=target,
                               failure=f"Too many failed attempts: try again in {exc.wait} s.")
        if user is None:
            if self.access.ticket_signer.verify(ticket) is None:
                return self.render("login.html", visitor, 401, next=target,
                                   failure="The sign-in took too long: give your password again.")
            return self.render("login-2fa.html", visitor, 401, next=target, ticket=ticket,
                               failure="That code is wrong or was used already: type the app's current code.")
        self._open_session(user, target)

    def _open_session(self, user: str, target: str) -> None:
        sid = self.accounts.open_session(user)
        response = web.HTTPSeeOther(_safe_next(target))
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Lax", path="/")
        raise response

    # -- sign up, passwords, two-factor sign-in -------------------------------------------

    async def signup_form(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        is_open = self.accounts.signup_open()
        return self.render("signup.html", visitor, 200 if is_open else 403, open=is_open, user="", failure="")

    async def signup(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        user, password = form.get("user", "").strip(), form.get("password", "")
        if not self.accounts.signup_open():
            return self.render("signup.html", visitor, 403, open=False, user="", failure="")
        try:
            _same(password, form.get("again", ""))
            await asyncio.get_running_loop().run_in_executor(None, self.accounts.sign_up, user, password)
        except DockyardError as exc:
            return self.render("signup.html", visitor, 409 if isinstance(exc, Conflict) else 400, open=True,
                               user=user, failure=exc.message)
        self._open_session(user, "/")

    async def reset_form(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        secret = request.match_info["secret"]
        user = self.accounts.reset_user(secret)
        return self.render("reset.html", visitor, 200 if user else 404, user=user, secret=secret,
                           failure="" if user else "This reset link is unknown, used or expired: ask an administrator for a new one.")

    async def reset(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        secret = request.match_info["secret"]
        user = self.accounts.reset_user(secret)
        try:
            _same(form.get("password", ""), form.get("again", ""))
            await asyncio.get_running_loop().run_in_executor(None, self.accounts.use_reset, secret,
                                                       form.get("password", ""))
        except DockyardError as exc:
            return self.render("reset.html", visitor, 404 if isinstance(exc, NotFound) else 400,
                               user=self.accounts.reset_user(secret), secret=secret, failure=exc.message)
        return self.render("login.html", visitor, next="/", failure="", done=f"The password of {user} is set: sign in with it.")

    def _security_page(self, visitor: Visitor, user: str, status: int = 200, failure: str = "", done: str = "",
                       secret: str = "") -> web.Response:
        from dockyard.hub.accounts import totp

        secret = secret or totp.new_secret()
        return self.render("security.html", visitor, status, totp_on=self.accounts.has_totp(user), secret=secret,
                           uri=totp.uri(secret, user, "dockyard hub"), failure=failure, done=done)

    async def security(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        return self._security_page(visitor, self._signed_in(request, visitor))

    async def change_password(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        user = self._signed_in(request, visitor)
        try:
            await self._password_of(request, user, form.get("current", ""))
            _same(form.get("password", ""), form.get("again", ""))
            await asyncio.get_running_loop().run_in_executor(None, self.accounts.set_password, user,
                                                       form.get("password", ""))
        except DockyardError as exc:
            return self._security_page(visitor, user, 400, failure=exc.message)
        self._open_session(user, "/settings/security")  # the new password ended every session, this one too

    async def enable_2fa(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        user = self._signed_in(request, visitor)
        secret = form.get("secret", "")
        try:
            self.accounts.enable_totp(user, secret, form.get("code", ""))
        except (DockyardError, ValueError) as exc:
            message = exc.message if isinstance(exc, DockyardError) else "that key is not base32: reload the page"
            return self._security_page(visitor, user, 400, failure=message, secret=secret)
        return self._security_page(visitor, user, done="Two-factor sign-in is on.")

    async def disable_2fa(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        user = self._signed_in(request, visitor)
        try:
            await self._password_of(request, user, form.get("current", ""))
            if not self.accounts.check_totp(user, form.get("code", "")):
                raise InvalidArgument("that code is wrong or was used already")
            self.accounts.disable_totp(user)
        except DockyardError as exc:
            return self._security_page(visitor, user, 400, failure=exc.message)
        return self._security_page(visitor, user, done="Two-factor sign-in is off.")

    async def _password_of(self, request: web.Request, user: str, password: str) -> None:
        """Refuse a change unless `password` is the user's (throttled like a sign-in)."""
        try:
            found = await self.access.attempt(request, user, password)
        except TooManyAttempts as exc:
            raise InvalidArgument(f"too many failed attempts: try again in {exc.wait} s") from None
        if found is None or found.scope is not None:
            raise InvalidArgument("the current password is not right")

    # -- site administration --------------------------------------------------------------

    def _site_admin(self, request: web.Request, visitor: Visitor) -> str:
        user = self._signed_in(request, visitor)
        if not self.accounts.is_site_admin(user):
            raise _Refused(self.pages.render("message.html", visitor, 403, heading="Not allowed",
                                             text="Only site administrators may manage users."))
        return user

    def _users_page(self, request: web.Request, visitor: Visitor, status: int = 200, failure: str = "",
                    link: str = "", link_user: str = "") -> web.Response:
        return self.render("users.html", visitor, status, users=self.accounts.users(),
                           signup_open=self.accounts.signup_open(), failure=failure, link=link, link_user=link_user)

    async def users(self, request: web.Request) -> web.Response:
        visitor = await self.access.visitor(request)
        try:
            self._site_admin(request, visitor)
        except _Refused as refused:
            return refused.response
        return self._users_page(request, visitor)

    async def issue_reset(self, request: web.Request) -> web.Response:
        visitor, _ = await self._form(request)
        admin = self._site_admin(request, visitor)
        user = request.match_info["user"]
        try:
            secret = self.accounts.reset_link(user, actor=admin)
        except DockyardError as exc:
            return self._users_page(request, visitor, 404, failure=exc.message)
        link = f"{request.scheme}://{request.host}/reset/{secret}"
        return self._users_page(request, visitor, link=link, link_user=user)

    async def set_signup(self, request: web.Request) -> web.Response:
        visitor, form = await self._form(request)
        admin = self._site_admin(request, visitor)
        self.accounts.set_signup(form.get("state") == "open", actor=admin)
        raise web.HTTPSeeOther("/admin/users")

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
