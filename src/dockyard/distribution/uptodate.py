"""Pulls and pushes with nothing to transfer, settled with a request or two over the standard
library's http.client.

The most common `pull` finds the image up to date and the most common re-`push` finds the
registry holding everything; docker answers both in ~20 ms. Our full client (httpx, rich
progress) costs ~60 ms to import before its first request. So the CLI asks here first: the
registry's digest for the tag, compared with what this root recorded (and for a push, a HEAD
per blob, as docker checks). Anything else (a different digest, an auth challenge, TLS trouble,
an error) answers None and the full client does the work, so this never decides a failure.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass

from dockyard.distribution.endpoints import endpoint_host, is_insecure
from dockyard.errors import DockyardError
from dockyard.oci import mediatypes
from dockyard.oci.reference import Reference

MANIFEST_ACCEPT = ", ".join(mediatypes.INDEXES + mediatypes.MANIFESTS)
TIMEOUT = 5.0


@dataclass(frozen=True)
class Settled:
    """The registry and this root agree on `digest`; `manifest` is the local image's manifest."""

    digest: str
    manifest: dict
    manifest_size: int


class _Registry:
    """Keep-alive requests to one registry host, anonymous: a 401 just means "not here"."""

    def __init__(self, domain: str, insecure_registries: list[str]) -> None:
        host = endpoint_host(domain)
        if is_insecure(host, insecure_registries):
            self.conn: http.client.HTTPConnection = http.client.HTTPConnection(host, timeout=TIMEOUT)
        else:
            import ssl
            self.conn = http.client.HTTPSConnection(host, timeout=TIMEOUT, context=ssl.create_default_context())

    def head(self, path: str, accept: str | None = None) -> tuple[int, str] | None:
        """(status, Docker-Content-Digest) of HEAD `path`, None when no answer came."""
        try:
            self.conn.request("HEAD", path, headers={"Accept": accept} if accept else {})
            resp = self.conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            return None
        return resp.status, resp.getheader("Docker-Content-Digest") or ""

    def close(self) -> None:
        self.conn.close()


def _local(engine, ref: Reference) -> tuple[str, str, list[str]] | None:
    """(image id, manifest digest, digests the registry knows it by) of the image `ref` names here."""
    row = engine.db.one("SELECT i.id, i.manifest_digest FROM tags t JOIN images i ON i.id = t.image_id "
                        "WHERE t.name=?", (str(ref),))
    if row is None:
        return None
    known = [r[0] for r in engine.db.query("SELECT digest FROM repo_digests WHERE repository=? AND image_id=?",
                                           (ref.repository, row[0]))]
    return row[0], row[1], known


def _manifest(engine, digest: str) -> tuple[dict, int] | None:
    try:
        data = engine.content.read(digest)
        return json.loads(data), len(data)
    except (DockyardError, OSError, ValueError):
        return None


def pulled_already(engine, ref: Reference) -> Settled | None:
    """The registry's manifest for `ref` is the one this root pulled it as: nothing to pull."""
    local = _local(engine, ref) if ref.tag else None
    if local is None or not local[2]:
        return None
    registry = _Registry(ref.domain, engine.insecure_registries)
    try:
        answer = registry.head(f"/v2/{ref.path}/manifests/{ref.tag}", MANIFEST_ACCEPT)
    finally:
        registry.close()
    if answer is None or answer[0] != 200 or answer[1] not in local[2]:
        return None
    found = _manifest(engine, local[1])
    return Settled(answer[1], *found) if found else None


def pushed_already(engine, ref: Reference) -> Settled | None:
    """The registry holds `ref` as this root's manifest and every blob of it: nothing to push."""
    local = _local(engine, ref) if ref.tag else None
    if local is None or local[1] not in local[2]:
        return None
    found = _manifest(engine, local[1])
    if found is None:
        return None
    manifest = found[0]
    registry = _Registry(ref.domain, engine.insecure_registries)
    try:
        answer = registry.head(f"/v2/{ref.path}/manifests/{ref.tag}", MANIFEST_ACCEPT)
        if answer is None or answer[0] != 200 or answer[1] != local[1]:
            return None
        for desc in [manifest.get("config") or {}, *(manifest.get("layers") or [])]:
            blob = registry.head(f"/v2/{ref.path}/blobs/{desc.get('digest')}")
            if blob is None or blob[0] != 200:
                return None
    finally:
        registry.close()
    return Settled(local[1], *found)
