"""`search`: the registry's legacy `/v1/search` endpoint, which Docker Hub (and some mirrors) still serve.

The OCI distribution API has no search, so a registry without `/v1/search` gets a clear
"does not offer search" instead of a confusing 404.
"""

from __future__ import annotations

from typing import Sequence

import httpx

from dockyard.distribution.client import RegistryClient
from dockyard.distribution.credentials import Credentials
from dockyard.distribution.endpoints import normalize_host
from dockyard.errors import DockyardError, InvalidArgument

# Docker Hub answers v1 search on its index host, not on its registry API host.
SEARCH_HOSTS = {"docker.io": "index.docker.io"}


def search(term: str, registry: str | None = None, *, limit: int = 25, credentials: Credentials | None = None,
           insecure_registries: Sequence[str] = ()) -> list[dict]:
    """Results as Docker's search API gives them: name, description, star_count, is_official, is_automated.
    `credentials` are an API client's own, for a registry that wants them for search."""
    if not term.strip():
        raise InvalidArgument("search needs a term")
    host = normalize_host(registry or "")
    with RegistryClient(SEARCH_HOSTS.get(host, host), credentials=credentials,
                        insecure_registries=insecure_registries) as client:
        resp = client.request("GET", "/v1/search", params={"q": term, "n": str(limit)})
        if resp.status_code in (404, 405):
            raise DockyardError(f"registry {host} does not offer search (no /v1/search endpoint)")
        if resp.status_code != 200:
            raise client.error(resp, f"search on {host}")
        try:
            results = resp.json().get("results") or []
        except (ValueError, AttributeError, httpx.DecodingError):
            raise DockyardError(f"registry {host} sent a malformed search answer") from None
    return [r for r in results if isinstance(r, dict)][:limit]
