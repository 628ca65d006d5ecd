"""A repository's tags from a registry (`GET /v2/<name>/tags/list`, following `Link` pages)."""

from __future__ import annotations

from typing import Sequence

from dockyard.distribution.client import connect, repository_scope
from dockyard.distribution.credentials import Credentials
from dockyard.errors import CorruptContent
from dockyard.oci.reference import Reference

MAX_PAGES = 1000


def list_tags(ref: Reference, *, credentials: Credentials | None = None,
              insecure_registries: Sequence[str] = ()) -> list[str]:
    """Every tag of `ref`'s repository, in the registry's order."""
    tags: list[str] = []
    url: str | None = f"/v2/{ref.path}/tags/list"
    with connect(ref.domain, credentials=credentials, insecure_registries=insecure_registries) as client:
        for _ in range(MAX_PAGES):
            if url is None:
                break
            resp = client.request("GET", url, scopes=(repository_scope(ref.path),))
            if resp.status_code != 200:
                raise client.error(resp, f"tags of {ref.repository}")
            try:
                page = resp.json().get("tags") or []
            except (ValueError, AttributeError):
                raise CorruptContent(f"registry {ref.domain} sent a malformed tag list for {ref.repository}") from None
            tags.extend(t for t in page if isinstance(t, str))
            url = _next_page(resp.headers.get("Link"))
    return tags


def _next_page(link: str | None) -> str | None:
    """The target of `Link: </v2/...?n=100&last=x>; rel="next"`, if any."""
    if not link or 'rel="next"' not in link:
        return None
    start, end = link.find("<"), link.find(">")
    return link[start + 1:end] if 0 <= start < end else None
