"""What the hub's buttons (form POSTs) and their API twins share: who is refused, and the answer.

A browser's form post is answered with a redirect to the page, anything else with JSON. A
POST from another site's page is refused (its Origin names another host), so a signed-in
maintainer's browser cannot be made to press the buttons; then anonymous visitors of a hub
with accounts are asked to sign in, and signed-in visitors who are no maintainers refused.
"""

from __future__ import annotations

from aiohttp import web


def refused(request: web.Request, anonymous: bool, maintainer: bool) -> web.Response | None:
    """The refusal of an action, or None when it may go ahead."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
        return web.json_response({"message": "cross-site request refused"}, status=403)
    if anonymous:
        return web.json_response({"message": "sign in as one of the repository's maintainers to do this"}, status=401,
                                 headers={"WWW-Authenticate": 'Basic realm="dockyard hub"'})
    if not maintainer:
        return web.json_response({"message": "only the repository's maintainers may do this"},
                                 status=403)
    return None


def answer(request: web.Request, status: int, body: dict, page: str) -> web.Response:
    """A browser's form post is sent to the page; an API client gets JSON."""
    if "text/html" in request.headers.get("Accept", "") and status < 400:
        raise web.HTTPSeeOther(page)
    return web.json_response(body, status=status)
