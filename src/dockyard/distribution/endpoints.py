"""Which host serves a registry domain, and whether it may be spoken to without TLS. Apart from
the HTTP client so that the up-to-date checks (uptodate.py) need no httpx."""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.addresses import is_loopback, split_host_port
from dockyard.errors import InvalidArgument

HUB_DOMAIN = "docker.io"
# Docker Hub's API host: `docker.io/...` references are served from here.
ENDPOINTS = {HUB_DOMAIN: "registry-1.docker.io"}


def normalize_host(registry: str) -> str:
    """`https://host:5000/v2/` or `host:5000` -> `host:5000`; the Hub's aliases -> `docker.io`."""
    host = registry.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].lower()
    if host in ("", "index.docker.io", ENDPOINTS[HUB_DOMAIN], HUB_DOMAIN):
        return HUB_DOMAIN
    port = split_host_port(host)[1]
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidArgument(f"invalid registry address {registry!r}: the port must be a number from 1 to 65535")
    return host


def endpoint_host(domain: str) -> str:
    """The `host[:port]` that serves a reference's domain."""
    return ENDPOINTS.get(domain, domain)


def is_insecure(host: str, insecure_registries: Sequence[str] = ()) -> bool:
    """Plain HTTP is allowed for loopback hosts and for registries the user listed as insecure."""
    if host in {normalize_host(r) for r in insecure_registries}:
        return True
    return is_loopback(split_host_port(host)[0])
