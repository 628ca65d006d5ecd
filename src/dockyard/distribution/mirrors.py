"""`registry-mirrors` (daemon.json): pulls of the default registry go to a mirror first.

As dockerd does: only images of the default registry are mirrored; each mirror is tried in
the order given with the image's own path, and any failure but a full disk moves on to the
next, then to the registry itself. A mirror is a URL, `https://host[:port]` or, for a mirror
spoken to without TLS, `http://host[:port]`.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence, TypeVar
from urllib.parse import urlsplit

from dockyard.distribution.endpoints import HUB_DOMAIN
from dockyard.errors import DockyardError, InvalidArgument, NoSpace
from dockyard.oci.reference import Reference

log = logging.getLogger(__name__)
T = TypeVar("T")


def normalize(mirror: str, where: str = "registry-mirrors") -> str:
    """dockerd's form of a mirror, `scheme://host[:port]/`; InvalidArgument for anything else."""
    parts = urlsplit(mirror.strip()) if isinstance(mirror, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidArgument(f"invalid mirror {mirror!r} in {where}: expected http(s)://HOST[:PORT]")
    return f"{parts.scheme}://{parts.netloc}/"


def through_mirrors(ref: Reference, mirrors: Sequence[str], insecure_registries: Sequence[str],
                    attempt: Callable[[Reference, list[str]], T]) -> T:
    """`attempt(reference, insecure_registries)` on each mirror of `ref`'s registry, then on the
    registry itself; the first that succeeds answers."""
    if ref.domain == HUB_DOMAIN:
        for mirror in mirrors:
            parts = urlsplit(mirror)
            insecure = [*insecure_registries, parts.netloc] if parts.scheme == "http" else list(insecure_registries)
            try:
                return attempt(Reference(parts.netloc, ref.path, ref.tag, ref.digest), insecure)
            except NoSpace:
                raise
            except DockyardError as exc:
                log.info("mirror %s failed for %s (%s); trying the next", mirror, ref, exc.message)
    return attempt(ref, list(insecure_registries))
