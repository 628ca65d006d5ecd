"""Pulls and pushes with nothing to transfer, settled with a HEAD request or two.

The most common `pull` finds the image up to date and the most common re-`push` finds the
registry holding everything; docker answers both in ~20 ms. Our full client (httpx, rich
progress) costs ~60 ms to import before its first request. So the CLI asks here first: the
registry's digest for the tag, compared with what this root recorded (and for a push, a HEAD
per blob, as docker checks). Anything else (a different digest, an auth challenge, TLS trouble,
an error) answers None and the full client does the work, so this never decides a failure.

The HEAD requests are written on a socket here: a HEAD answer is a status line and headers,
and http.client would import the email package and ssl (~10 ms, a third of such a command).
"""

from __future__ import annotations

import json
import socket
from collections import namedtuple

from dockyard.addresses import split_host_port
from dockyard.distribution.endpoints import HUB_DOMAIN, endpoint_host, is_insecure
from dockyard.errors import DockyardError
from dockyard.oci import mediatypes
from dockyard.oci.reference import Reference

TIMEOUT = 5.0


# The registry and this root agree on `digest`; `manifest` is the local image's manifest.
Settled = namedtuple("Settled", "digest manifest manifest_size")  # not typing's: its import costs 2 ms


class _Registry:
    """HEAD requests on one keep-alive connection, anonymous: a 401 just means "not here"."""

    def __init__(self, domain: str, insecure_registries: list[str]) -> None:
        self.host = endpoint_host(domain)
        self.tls = not is_insecure(self.host, insecure_registries)
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        name, port = split_host_port(self.host)
        sock = socket.create_connection((name, int(port or (443 if self.tls else 80))), timeout=TIMEOUT)
        if self.tls:
            import ssl
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=name)
        return sock

    def head(self, path: str, accept: str | None = None) -> tuple[int, str] | None:
        """(status, Docker-Content-Digest) of HEAD `path`, None when no proper answer came."""
        request = f"HEAD {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: dockyard\r\n"
        request += f"Accept: {accept}\r\n\r\n" if accept else "\r\n"
        try:
            if self.sock is None:
                self.sock = self._connect()
            self.sock.sendall(request.encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self.sock.recv(65536)
                if not chunk or len(data) > 65536:
                    return None
                data += chunk
        except (OSError, ValueError):
            return None
        status_line, *lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            return None
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(parts[1]), headers.get("docker-content-digest", "")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> "_Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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


def _tag_digest(registry: _Registry, ref: Reference) -> str | None:
    """The digest the registry serves `ref`'s tag as, None unless it answers 200 with one."""
    answer = registry.head(f"/v2/{ref.path}/manifests/{ref.tag}", mediatypes.MANIFEST_ACCEPT)
    if answer is None or answer[0] != 200:
        return None
    return answer[1] or None


def pulled_already(engine, ref: Reference) -> Settled | None:
    """The registry's manifest for `ref` is the one this root pulled it as: nothing to pull."""
    local = _local(engine, ref) if ref.tag else None
    if local is None or not local[2] or (ref.domain == HUB_DOMAIN and engine.registry_mirrors):
        return None  # (through mirrors: the full pull asks them in turn)
    with _Registry(ref.domain, engine.insecure_registries) as registry:
        digest = _tag_digest(registry, ref)
    if digest not in local[2]:
        return None
    found = _manifest(engine, local[1])
    return Settled(digest, *found) if found else None


def pushed_already(engine, ref: Reference) -> Settled | None:
    """The registry holds `ref` as this root's manifest and every blob of it: nothing to push."""
    local = _local(engine, ref) if ref.tag else None
    if local is None or local[1] not in local[2]:
        return None
    found = _manifest(engine, local[1])
    if found is None:
        return None
    manifest = found[0]
    with _Registry(ref.domain, engine.insecure_registries) as registry:
        if _tag_digest(registry, ref) != local[1]:
            return None
        for desc in [manifest.get("config") or {}, *(manifest.get("layers") or [])]:
            blob = registry.head(f"/v2/{ref.path}/blobs/{desc.get('digest')}")
            if blob is None or blob[0] != 200:
                return None
    return Settled(local[1], *found)
