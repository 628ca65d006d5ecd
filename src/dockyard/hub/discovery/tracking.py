"""What the registry's responses tell the hub: a tag was pulled, a repository pushed to, something deleted.

Registered as an `on_response_prepare` handler, so it sees exactly what the client got: only a
successful response counts. A pull is counted when a manifest is fetched by tag (GET or HEAD):
every client resolves the tag once per pull (docker with a HEAD, then fetches by digest;
skopeo and dockyard with a GET), and fetches by digest are the rest of that same pull.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING

from dockyard.hub.discovery.info import RepoInfo
from dockyard.registry import names
from dockyard.registry.auth import USER_KEY

if TYPE_CHECKING:
    from aiohttp import web

    from dockyard.hub.accounts.store import Accounts

log = logging.getLogger(__name__)
_OBJECT = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


class Tracker:
    def __init__(self, info: RepoInfo, accounts: Accounts | None) -> None:
        self.info = info
        self.accounts = accounts

    async def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        m = _OBJECT.match(request.path)
        if m is None or not names.is_valid_name(m["name"]):
            return
        name, kind, ref, method, status = m["name"], m["kind"], m["ref"], request.method, response.status
        by_tag = not names.looks_like_digest(ref)
        user = request.get(USER_KEY)
        try:
            if kind == "manifests" and method in ("GET", "HEAD") and status == 200 and by_tag:
                self.info.pulled(name, ref)
            elif kind == "manifests" and method == "PUT" and status == 201:
                self.info.touch(name)
                if self.accounts is not None:
                    digest = response.headers.get("Docker-Content-Digest", "")
                    self.accounts.audit(user, "push", name, json.dumps({"tag": ref, "digest": digest} if by_tag else {"digest": digest}))
            elif method == "DELETE" and status == 202 and self.accounts is not None:
                self.accounts.audit(user, "delete", name, json.dumps({"tag" if by_tag else "digest": ref, "kind": kind[:-1]}))
        except Exception:  # a full disk must not turn a served pull into an error
            log.exception("could not record %s %s", method, request.path)

    def published(self, build_id: int, repo: str, tags: list[str], digest: str) -> None:
        """A build stored an image (not through the registry API, so no response to see)."""
        self.info.touch(repo)
        if self.accounts is not None:
            self.accounts.audit(f"build #{build_id}", "push", repo, json.dumps({"tags": tags, "digest": digest}))
