"""Pull-through cache: the registry as a mirror of one upstream registry (`--proxy-remote`),
as the reference registry's proxy mode is.

A manifest or blob asked for and not held is fetched from upstream and stored; a blob is
streamed to the client while it is written to the store, so the first pull costs about what a
direct one does, and it becomes visible only once verified. Later requests are answered from
the store without asking upstream, except a tag older than the TTL (`--proxy-ttl`; 0, the
default, as the reference registry: every time), which is checked with a HEAD request and
refetched when it moved. When upstream cannot answer, what is cached is served. Writes are
refused with the reference registry's answer: 405 UNSUPPORTED.

The upstream is spoken to with the engine's registry client (auth challenges, token
exchange, TLS or loopback HTTP), which is synchronous: its calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiohttp import web

from dockyard.distribution.client import RegistryClient, repository_scope
from dockyard.distribution.credentials import Credentials
from dockyard.distribution.endpoints import normalize_host
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import CANONICAL, algorithm_of, digest_of
from dockyard.registry import errors, manifests, names
from dockyard.registry.storage import RegistryStorage

log = logging.getLogger(__name__)

#: Upstream errors that mean "it has no such thing", rather than "it could not be asked".
_ABSENT = (NotFound,)


def parse_ttl(text: str | None) -> float:
    """`--proxy-ttl`: seconds, or a number with s, m, h or d (`10m`, `168h`)."""
    if not text:
        return 0.0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], units[text[-1]]) if text[-1] in units else (text, 1)
    try:
        value = float(number) * unit
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidArgument(f"invalid --proxy-ttl {text!r}: expected a duration such as 300, 10m or 168h")
    return value


def options(remote: str | None, username: str = "", password: str = "", ttl: str | None = None) -> dict | None:
    """PullThrough's arguments from the command line's options; None without --proxy-remote.
    Checked here, so that a mistake is one line before the server starts."""
    if not remote:
        if username or password or ttl:
            raise InvalidArgument("--proxy-username, --proxy-password and --proxy-ttl need --proxy-remote")
        return None
    _remote_parts(remote)
    if bool(username) != bool(password):
        raise InvalidArgument("--proxy-username and --proxy-password go together")
    return {"remote": remote, "username": username, "password": password, "ttl": parse_ttl(ttl)}


def _remote_parts(remote: str):
    parts = urlsplit(remote if "://" in remote else f"https://{remote}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"invalid --proxy-remote {remote!r}: expected http(s)://HOST[:PORT]")
    return parts


class PullThrough:
    def __init__(self, storage: RegistryStorage, remote: str, *, username: str = "", password: str = "",
                 ttl: float = 0.0) -> None:
        parts = _remote_parts(remote)
        domain = normalize_host(parts.netloc)
        creds = Credentials(username=username, password=password) if username else None
        self.storage = storage
        self.ttl = ttl
        self.client = RegistryClient(domain, credentials=creds,
                                     insecure_registries=[parts.netloc] if parts.scheme == "http" else [])

    def close(self) -> None:
        self.client.close()

    # -- manifests ------------------------------------------------------------------------

    async def manifest(self, name: str, reference: str) -> None:
        """Make `reference` servable from the store: fetch what is missing, revalidate a stale tag."""
        if names.looks_like_digest(reference):
            if not self.storage.has_manifest(name, reference):
                await self._upstream(self._fetch_manifest, name, reference, None)
            return
        if not names.is_valid_tag(reference):
            return  # the store's lookup refuses it
        age = self.storage.tag_age(name, reference)
        if age is not None and age < self.ttl:
            return
        try:
            await self._upstream(self._refresh_tag, name, reference)
        except errors.RegistryError:
            if age is None:
                raise
            log.info("proxy: serving cached %s:%s, upstream did not answer", name, reference)

    def _refresh_tag(self, name: str, tag: str) -> None:
        known = self.storage.tag_digest(name, tag)
        if known:
            resp = self.client.request("HEAD", f"/v2/{name}/manifests/{tag}", scopes=(repository_scope(name),),
                                       headers={"Accept": _ACCEPT})
            if resp.status_code == 200 and resp.headers.get("Docker-Content-Digest") == known \
                    and self.storage.has_manifest(name, known):
                self.storage.touch_tag(name, tag)
                return
        self._fetch_manifest(name, tag, tag)

    def _fetch_manifest(self, name: str, reference: str, tag: str | None) -> None:
        resp = self.client.request("GET", f"/v2/{name}/manifests/{reference}", scopes=(repository_scope(name),),
                                   headers={"Accept": _ACCEPT})
        if resp.status_code != 200:
            raise self.client.error(resp, f"manifest {name}:{reference}")
        data = resp.content
        claimed = reference if tag is None else resp.headers.get("Docker-Content-Digest", "")
        digest = digest_of(data, algorithm_of(claimed) if claimed else CANONICAL)
        if claimed and digest != claimed:
            raise DockyardError(f"upstream sent manifest {name}:{reference} that does not match its digest")
        manifest = manifests.parse(data, resp.headers.get("Content-Type"))
        self.storage.put_manifest(name, data, manifest, tag, digest, require_blobs=False)

    # -- blobs ----------------------------------------------------------------------------

    async def blob(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        """Answer a blob the store lacks from upstream; a whole GET is stored on the way."""
        scopes = (repository_scope(name),)
        headers = {"Range": request.headers["Range"]} if "Range" in request.headers else {}
        resp = await self._upstream(self.client.request, request.method, f"/v2/{name}/blobs/{digest}",
                                    scopes=scopes, headers=headers, stream=True)
        try:
            if resp.status_code not in (200, 206):
                await asyncio.to_thread(resp.read)
                raise _registry_error(self.client.error(resp, f"blob {digest} in {name}"), errors.blob_unknown, digest)
            out = web.StreamResponse(status=resp.status_code, headers={
                "Docker-Content-Digest": digest, "Content-Type": "application/octet-stream",
                **{k: resp.headers[k] for k in ("Content-Length", "Content-Range", "Accept-Ranges")
                   if k in resp.headers}})
            await out.prepare(request)
            if request.method == "GET":  # a failure from here on can only cut the connection
                await (self._relay(out, resp) if headers else self._relay_and_store(out, resp, name, digest))
        finally:
            resp.close()
        await out.write_eof()
        return out

    async def _relay(self, out: web.StreamResponse, resp) -> None:
        body = self.client.iter_body(resp)
        while chunk := await asyncio.to_thread(next, body, b""):
            await out.write(chunk)

    async def _relay_and_store(self, out: web.StreamResponse, resp, name: str, digest: str) -> None:
        body = self.client.iter_body(resp)
        ingest = self.storage.blobs.ingest_for(digest, f"blob {digest} from upstream")

        def step() -> bytes:  # in a worker: read, hash and write off the event loop
            chunk = next(body, b"")
            if chunk:
                ingest.write(chunk)
            return chunk

        client_gone = False
        try:
            while chunk := await asyncio.to_thread(step):
                if not client_gone:
                    try:
                        await out.write(chunk)
                    except ConnectionError:  # the blob is still worth caching for the next client
                        client_gone = True
            await asyncio.to_thread(self.storage.commit_ingest, name, ingest, digest)
        except BaseException:
            ingest.abort()
            raise

    # -- tags -----------------------------------------------------------------------------

    async def tags(self, request: web.Request, name: str) -> web.Response | None:
        """Upstream's tag list as it answers it; None (serve the cached one) if it cannot."""
        try:
            resp = await self._upstream(self.client.request, "GET", f"/v2/{name}/tags/list",
                                        scopes=(repository_scope(name),), params=dict(request.query))
        except errors.RegistryError:
            return None
        if resp.status_code != 200:
            return None
        headers = {"Link": resp.headers["Link"]} if "Link" in resp.headers else {}
        return web.Response(body=resp.content, content_type="application/json", headers=headers)

    async def _upstream(self, fn, *args, **kwargs):
        """Run a client call in a worker; its failures become the spec's errors."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except errors.RegistryError:
            raise
        except DockyardError as exc:
            raise _registry_error(exc, errors.manifest_unknown, "") from None


_ACCEPT = ", ".join((*mt.INDEXES, *mt.MANIFESTS))


def _registry_error(exc: DockyardError, unknown, what: str) -> errors.RegistryError:
    """404 (unknown) for what upstream does not have; else 502 naming the upstream failure
    (a client retries, or another mirror is tried)."""
    if isinstance(exc, _ABSENT):
        return unknown(detail={"digest": what} if what else None)
    return errors.RegistryError("UNKNOWN", 502, f"upstream registry: {exc.message}")
