"""The build pages: one build with its log streamed live, a repository's rules with "Build now",
and the cancel and trigger actions.

    /builds/ID                   the build, its log (failing step marked), cancel button
    /builds/ID/log?from=OFFSET   the log from OFFSET as Server-Sent Events until the build ends
    POST /builds/ID/cancel       cancel (maintainers)
    /r/NAME/-/builds             rules, build arguments (secrets masked), each rule's builds
    POST /r/NAME/-/builds/trigger   build now (maintainers), form field `rule`

Actions answer and refuse as dockyard.hub.actions says.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.errors import DockyardError, NotFound
from dockyard.hub.actions import answer, refused
from dockyard.hub.builds import templates
from dockyard.hub.maintainers import is_maintainer
from dockyard.hub.builds.store import ENDED, BuildBook
from dockyard.hub.failure import failing_log_line

if TYPE_CHECKING:
    from dockyard.hub.web import Pages

MAX_LOG_BYTES = 2 << 20
FOLLOW_POLL = 0.1
KEEPALIVE = 15.0


class BuildPages:
    def __init__(self, pages: Pages) -> None:
        self.pages, self.state, self.access, self.worker = pages, pages.state, pages.access, pages.worker
        self.book: BuildBook = pages.worker.book
        self.closing = False
        pages.add_templates(templates.TEMPLATES)

    def routes(self, app: web.Application) -> None:
        """Register before the hub's `/r/{path}` catch-all."""
        app.router.add_get("/builds/{id:\\d+}", self.build)
        app.router.add_get("/builds/{id:\\d+}/log", self.log_events)
        app.router.add_post("/builds/{id:\\d+}/cancel", self.cancel)
        app.router.add_get("/r/{repo:.+}/-/builds", self.rules)
        app.router.add_post("/r/{repo:.+}/-/builds/trigger", self.trigger)
        app.on_shutdown.append(self._closing)

    async def _closing(self, _app) -> None:
        self.closing = True  # open log streams end, so they do not hold the shutdown up
    async def _build(self, request: web.Request):
        """(visitor, build) of a build the visitor may see; (visitor, None) otherwise."""
        try:
            b = self.state.build(int(request.match_info["id"]))
        except NotFound:
            return await self.access.visitor(request), None
        visitor, ok = await self.pages._visible(request, b.source)
        return visitor, (b if ok else None)

    async def build(self, request: web.Request) -> web.Response:
        visitor, b = await self._build(request)
        if b is None:
            return self.pages.not_found(visitor, "such build")
        meta = self.book.meta(b.id)
        try:
            rule = next((r for r in self.book.rules(b.source) if r.id == meta.rule), None)
        except NotFound:  # the source was removed
            rule = None
        size, text = _tail(self.state.log_path(b.id))
        lines = text.split("\n")
        index = failing_log_line(lines) if b.status == "failed" else None
        before, failing, after = text, None, ""
        if index is not None:
            before, failing, after = "\n".join(lines[:index]) + "\n", lines[index], "\n" + "\n".join(lines[index + 1:])
        active = b.status not in ENDED
        return self.pages.render(
            "build.html", visitor, b=b, meta=meta, rule=rule or _NoRule(), active=active,
            maintainer=is_maintainer(self.access, visitor, b.source),
            follow=f"/builds/{b.id}/log?from={size}" if active else "",
            log_before=before, log_failing=failing, log_after=after)

    async def log_events(self, request: web.Request) -> web.StreamResponse:
        """The log as it grows, one `log` event per line, then an `end` event with the result."""
        visitor, b = await self._build(request)
        if b is None:
            return self.pages.not_found(visitor, "such build")
        try:
            offset = max(0, int(request.query.get("from", "0")))
        except ValueError:
            offset = 0
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        path = self.state.log_path(b.id)
        pending = b""
        idle = 0.0
        while not self.closing:
            build = self.state.build(b.id)  # read before the log: what was written before it ended is sent
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read(MAX_LOG_BYTES)
            except FileNotFoundError:
                chunk = b""
            offset += len(chunk)
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            if lines:
                await resp.write(_events(lines, offset - len(pending)))
                idle = 0.0
            if build.status in ENDED and not chunk:
                end = {"status": build.status, "reason": build.reason, "failing_line": build.failing_line}
                await resp.write(f"event: end\ndata: {json.dumps(end)}\n\n".encode())
                break
            idle += FOLLOW_POLL
            if idle >= KEEPALIVE:
                await resp.write(b": keep-alive\n\n")
                idle = 0.0
            await asyncio.sleep(FOLLOW_POLL)
        return resp

    async def cancel(self, request: web.Request) -> web.Response:
        visitor, b = await self._build(request)
        if b is None:
            return self.pages.not_found(visitor, "such build")
        refusal = refused(request, self.access.has_accounts and visitor.user is None,
                           is_maintainer(self.access, visitor, b.source))
        if refusal is not None:
            return refusal
        try:
            status = self.worker.cancel(b.id, visitor.user or "a visitor")
        except DockyardError as exc:
            return answer(request, 409, {"message": exc.message}, f"/builds/{b.id}")
        return answer(request, 202, {"build": b.id, "status": status}, f"/builds/{b.id}")

    async def rules(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        visitor, ok = await self.pages._visible(request, repo)
        try:
            source = self.state.source(repo) if ok else None
        except NotFound:
            source = None
        if source is None:
            return self.pages.not_found(visitor, f"build source for {repo}")
        return self.pages.render("build-rules.html", visitor, repo=repo, source=source, rules=self.book.rules(repo),
                                 vars=self.book.vars(repo), builds=self.book.rule_builds(repo),
                                 maintainer=is_maintainer(self.access, visitor, repo))

    async def trigger(self, request: web.Request) -> web.Response:
        from dockyard.hub.builds.trigger import build_now

        repo = request.match_info["repo"]
        visitor, ok = await self.pages._visible(request, repo)
        if not ok:
            return self.pages.not_found(visitor, f"build source for {repo}")
        refusal = refused(request, self.access.has_accounts and visitor.user is None,
                           is_maintainer(self.access, visitor, repo))
        if refusal is not None:
            return refusal
        form = await request.post()
        rule = form.get("rule") or request.query.get("rule")
        try:
            rule_id = int(rule) if rule not in (None, "") else None
            queued = await asyncio.get_running_loop().run_in_executor(
                None, build_now, self.book, repo, visitor.user or "a visitor", rule_id)
        except ValueError:
            return answer(request, 400, {"message": f"rule {rule!r} is not a number"}, f"/r/{repo}/-/builds")
        except DockyardError as exc:
            status = 404 if isinstance(exc, NotFound) else 400
            return answer(request, status, {"message": exc.message}, f"/r/{repo}/-/builds")
        self.worker.wake.set()
        builds = [{"build": i, "rule": r.id, "ref": ref} for i, r, ref in queued]
        return answer(request, 202, {"builds": builds}, f"/builds/{queued[0][0]}")


class _NoRule:
    label = "(a rule since removed)"


def _events(lines: list[bytes], last_id: int) -> bytes:
    """One `log` event per line; the last carries the log offset after it as its id."""
    out = [f"event: log\ndata: {line.decode(errors='replace').replace(chr(13), '')}\n\n" for line in lines]
    out[-1] = f"id: {last_id}\n" + out[-1]
    return "".join(out).encode()


def _tail(path) -> tuple[int, str]:
    """(size, the end of the log): a runaway build must not make its page huge."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - MAX_LOG_BYTES))
            data = f.read()
    except FileNotFoundError:
        return 0, ""
    text = data.decode(errors="replace")
    return size, (text if size <= MAX_LOG_BYTES else "[... earlier output cut ...]\n" + text)
