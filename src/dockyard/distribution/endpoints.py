"""Which host serves a registry domain, and whether it may be spoken to without TLS. Apart from
the HTTP client so that the up-to-date checks (uptodate.py) need no httpx."""

from __future__ import annotations

import ipaddress
from typing import Sequence

from dockyard.distribution.credentials import normalize_host

# The one place Docker Hub's API host appears: `docker.io/...` references are served from here.
ENDPOINTS = {"docker.io": "registry-1.docker.io"}


def endpoint_host(domain: str) -> str:
    """The `host[:port]` that serves a reference's domain."""
    return ENDPOINTS.get(domain, domain)


def is_insecure(host: str, insecure_registries: Sequence[str] = ()) -> bool:
    """Plain HTTP is allowed for loopback hosts and for registries the user listed as insecure."""
    if host in {normalize_host(r) for r in insecure_registries}:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
