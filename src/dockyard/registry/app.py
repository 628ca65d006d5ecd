"""The HTTP API of the OCI distribution spec 1.1, as an aiohttp application.

Repository names contain slashes, so `/v2/...` is routed here by regular expressions rather
than by aiohttp's router; that also gives one place that validates the name, works out the
scope a request needs and asks the access mode (auth.py) before any handler runs.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from dockyard.errors import CorruptContent, InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import algorithm_of, digest_of, validate
from dockyard.registry import errors, manifests, names
from dockyard.registry.auth import USER_KEY, Access, Identity, Scope
from dockyard.registry.metrics import Metrics
from dockyard.registry.notify import Notifier, event
from dockyard.registry.storage import RegistryStorage
from dockyard.registry.uploads import Uploads

if TYPE_CHECKING:
    from dockyard.registry.proxy import PullThrough

log = logging.getLogger(__name__)

PULL = ("pull",)
PUSH = ("pull", "push")
DELETE = ("delete",)
STREAM_CHUNK = 1 << 16
MAX_PAGE = 10000
KNOWN_MANIFEST_TYPES = set(manifests.SUPPORTED)

Handler = Callable[..., Awaitable[web.StreamResponse]]


def _digest_param(value: str | None) -> str:
    try:
        return validate(value)
    except InvalidArgument:
        raise errors.digest_invalid("invalid or missing digest", detail={"digest": value}) from None


def _content_range(request: web.Request) -> int | None:
    """Start offset of a chunk from `Content-Range: <start>-<end>`; None when absent."""
    value = request.headers.get("Content-Range")
    if value is None:
        return None
    m = re.fullmatch(r"(?:bytes[ =])?(\d+)-(\d+)(?:/\d+|/\*)?", value.strip())
    if not m or int(m.group(2)) < int(m.group(1)):
        raise errors.range_invalid(f"malformed Content-Range {value!r}")
    start, end = int(m.group(1)), int(m.group(2))
    if request.content_length is not None and request.content_length != end - start + 1:
        raise errors.size_invalid(detail={"Content-Range": value, "Content-Length": request.content_length})
    return start


def _check_range(request: web.Request, size: int) -> None:
    """Refuse (416, RANGE_INVALID) a blob's `Range` that is malformed or that no byte of the
    `size` bytes satisfies: a start at or past the end, `bytes=-0`, an end before the start.
    One range is served; a list of ranges is refused too."""
    value = request.headers.get("Range")
    if value is None:
        return
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", value.strip(), re.ASCII | re.IGNORECASE)
    if not m or not (m.group(1) or m.group(2)):
        why = "malformed"
    elif m.group(1) and m.group(2) and int(m.group(2)) < int(m.group(1)):
        why = "malformed (its end is before its start)"
    elif (m.group(1) and int(m.group(1)) >= size) or (not m.group(1) and int(m.group(2)) == 0):
        why = f"not satisfiable by a blob of {size} bytes"
    else:
        return
    raise errors.range_invalid(f"Range {value!r} is {why}", detail={"Range": value, "size": size},
                               headers={"Content-Range": f"bytes */{size}"})


def _paginate(request: web.Request, items: list[str], path: str) -> tuple[list[str], dict[str, str]]:
    """Apply `n` and `last`; add a Link header to the next page when there is one."""
    last = request.query.get("last")
    if last:
        items = [i for i in items if i > last]
    n_text = request.query.get("n")
    if n_text is None:
        return items, {}
    if not n_text.isdigit() or int(n_text) > MAX_PAGE:
        raise errors.pagination_number_invalid(detail={"n": n_text})
    n = int(n_text)
    page = items[:n]
    if len(items) > n and page:
        return page, {"Link": f'<{path}?n={n}&last={page[-1]}>; rel="next"'}
    return page, {}


def _accepts(request: web.Request, media_type: str) -> bool:
    """Whether a client listing the manifest types it understands can take `media_type`."""
    listed = {part.split(";")[0].strip() for h in request.headers.getall("Accept", []) for part in h.split(",")}
    return not (listed & KNOWN_MANIFEST_TYPES) or media_type in listed


class Registry:
    def __init__(self, storage: RegistryStorage, access: Access, notifier: Notifier, metrics: Metrics,
                 proxy: PullThrough | None = None) -> None:
        self.storage = storage
        self.proxy = proxy
        self.uploads = Uploads(storage.uploads_dir)
        self.access = access
        self.notifier = notifier
        self.metrics = metrics
        name = r"(?P<name>.+)"
        self.routes: list[tuple[re.Pattern[str], dict[str, tuple[Handler, tuple[str, ...] | None]]]] = [
            (re.compile(r"^$"), {"GET": (self.base, None), "HEAD": (self.base, None)}),
            (re.compile(r"^_catalog$"), {"GET": (self.catalog, None)}),
            (re.compile(rf"^{name}/tags/list$"), {"GET": (self.tags_list, PULL)}),
            (
                re.compile(rf"^{name}/manifests/(?P<reference>[^/]+)$"),
                {
                    "GET": (self.get_manifest, PULL),
                    "HEAD": (self.get_manifest, PULL),
                    "PUT": (self.put_manifest, PUSH),
                    "DELETE": (self.delete_manifest, DELETE),
                },
            ),
            (re.compile(rf"^{name}/blobs/uploads/?$"), {"POST": (self.start_upload, PUSH)}),
            (
                re.compile(rf"^{name}/blobs/uploads/(?P<uid>[^/]+)$"),
                {
                    "GET": (self.upload_status, PUSH),
                    "PATCH": (self.patch_upload, PUSH),
                    "PUT": (self.finish_upload, PUSH),
                    "DELETE": (self.cancel_upload, PUSH),
                },
            ),
            (
                re.compile(rf"^{name}/blobs/(?P<digest>[^/]+)$"),
                {"GET": (self.get_blob, PULL), "HEAD": (self.get_blob, PULL), "DELETE": (self.delete_blob, DELETE)},
            ),
            (re.compile(rf"^{name}/referrers/(?P<digest>[^/]+)$"), {"GET": (self.referrers, PULL)}),
        ]

    # -- plumbing -------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        for pattern, methods in self.routes:
            m = pattern.match(tail)
            if m:
                break
        else:
            raise errors.unsupported(f"no such endpoint: {request.path}", status=404)
        if request.method not in methods:
            raise errors.unsupported(f"{request.method} is not supported on this endpoint",
                                     headers={"Allow": ", ".join(sorted(methods))})
        if self.proxy is not None and request.method not in ("GET", "HEAD"):
            raise errors.unsupported()  # a pull-through cache takes no writes (as the reference registry)
        handler, actions = methods[request.method]
        params = m.groupdict()
        needed = None
        if "name" in params:
            if not names.is_valid_name(params["name"]):
                raise errors.name_invalid(detail={"name": params["name"]})
            needed = Scope("repository", params["name"], actions or ())
        elif handler == self.catalog:
            needed = Scope("registry", "catalog", ("*",))
        identity = await self.access.authenticate(request, needed)
        request[USER_KEY] = identity.user
        return await handler(request, identity, **params)

    def _notify(self, request: web.Request, identity: Identity, action: str, target: dict[str, Any]) -> None:
        req = {
            "id": request.headers.get("X-Request-Id", ""),
            "addr": request.remote,
            "host": request.host,
            "method": request.method,
            "useragent": request.headers.get("User-Agent", ""),
        }
        self.notifier.publish(event(action, target, req, identity.user))

    # -- base, catalog, tags --------------------------------------------------------------

    async def base(self, request: web.Request, identity: Identity) -> web.Response:
        return web.json_response({})

    async def catalog(self, request: web.Request, identity: Identity) -> web.Response:
        repos, headers = _paginate(request, self.storage.repositories(), "/v2/_catalog")
        return web.json_response({"repositories": repos}, headers=headers)

    async def tags_list(self, request: web.Request, identity: Identity, name: str) -> web.Response:
        if self.proxy is not None and (upstream := await self.proxy.tags(request, name)) is not None:
            return upstream
        if not self.storage.repo_exists(name):
            raise errors.name_unknown(detail={"name": name})
        tags, headers = _paginate(request, self.storage.tags(name), f"/v2/{name}/tags/list")
        return web.json_response({"name": name, "tags": tags}, headers=headers)

    # -- manifests ------------------------------------------------------------------------

    async def get_manifest(self, request: web.Request, identity: Identity, name: str, reference: str) -> web.Response:
        if self.proxy is not None:
            await self.proxy.manifest(name, reference)
        stored = self.storage.get_manifest(name, reference)
        if not _accepts(request, stored.media_type):
            raise errors.manifest_unknown(
                f"manifest is {stored.media_type}, which the Accept header does not list",
                detail={"mediaType": stored.media_type},
            )
        headers = {
            "Content-Type": stored.media_type,
            "Docker-Content-Digest": stored.digest,
            "ETag": f'"{stored.digest}"',
        }
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(stored.data))
            return web.Response(headers=headers)
        return web.Response(body=stored.data, headers=headers)

    async def _read_manifest_body(self, request: web.Request) -> bytes:
        limit = manifests.MAX_MANIFEST_SIZE
        too_big = errors.manifest_invalid(f"manifest is larger than the {limit} byte limit", status=413)
        if request.content_length is not None and request.content_length > limit:
            raise too_big
        data = bytearray()
        async for chunk in request.content.iter_chunked(STREAM_CHUNK):
            data += chunk
            if len(data) > limit:
                raise too_big
        return bytes(data)

    async def put_manifest(self, request: web.Request, identity: Identity, name: str, reference: str) -> web.Response:
        is_digest = names.looks_like_digest(reference)
        if not is_digest and not names.is_valid_tag(reference):
            raise errors.manifest_invalid(f"invalid tag {reference!r}", detail={"tag": reference})
        data = await self._read_manifest_body(request)
        manifest = manifests.parse(data, request.headers.get("Content-Type"))
        digest = digest_of(data)
        if is_digest:
            digest = digest_of(data, algorithm_of(_digest_param(reference)))
            if digest != reference:
                raise errors.digest_invalid(detail={"expected": reference, "actual": digest})
        self.storage.put_manifest(name, data, manifest, None if is_digest else reference, digest)
        self.metrics.manifests_pushed += 1
        target = {"mediaType": manifest.media_type, "digest": digest, "size": len(data), "length": len(data),
                  "repository": name, "url": f"{request.scheme}://{request.host}/v2/{name}/manifests/{digest}"}
        if not is_digest:
            target["tag"] = reference
        self._notify(request, identity, "push", target)
        headers = {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
        if manifest.subject is not None:
            headers["OCI-Subject"] = manifest.subject.digest
        return web.Response(status=201, headers=headers)

    async def delete_manifest(self, request: web.Request, identity: Identity, name: str, reference: str) -> web.Response:
        target: dict[str, Any] = {"repository": name}
        if names.looks_like_digest(reference):
            self.storage.delete_manifest(name, _digest_param(reference))
            target["digest"] = reference
        else:
            self.storage.delete_tag(name, reference)
            target["tag"] = reference
        self._notify(request, identity, "delete", target)
        return web.Response(status=202)

    # -- blobs ----------------------------------------------------------------------------

    async def get_blob(self, request: web.Request, identity: Identity, name: str, digest: str) -> web.StreamResponse:
        digest = _digest_param(digest)
        if self.proxy is not None and not self.storage.has_blob(name, digest):
            return await self.proxy.blob(request, name, digest)
        path = self.storage.blob_path(name, digest)
        _check_range(request, path.stat().st_size)
        _fix_loopback_send_buffer(request)
        return web.FileResponse(
            path,
            headers={"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"},
        )

    async def delete_blob(self, request: web.Request, identity: Identity, name: str, digest: str) -> web.Response:
        digest = _digest_param(digest)
        self.storage.unlink_blob(name, digest)
        self._notify(request, identity, "delete", {"repository": name, "digest": digest})
        return web.Response(status=202)

    def _blob_created(self, name: str, digest: str) -> web.Response:
        return web.Response(
            status=201, headers={"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
        )

    async def _count(self, request: web.Request):
        """The request body in chunks, counted into blob_bytes_received as it arrives."""
        async for chunk in request.content.iter_chunked(STREAM_CHUNK):
            self.metrics.blob_bytes_received += len(chunk)
            yield chunk

    async def start_upload(self, request: web.Request, identity: Identity, name: str) -> web.Response:
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount is not None:
            mount = _digest_param(mount)
            if (
                source
                and names.is_valid_name(source)
                and identity.can("repository", source, "pull")
                and self.storage.mount(name, mount, source)
            ):
                self.metrics.blob_mounts += 1
                return self._blob_created(name, mount)
            # Not mountable: the spec says to fall back to an ordinary upload session.
        elif "digest" in request.query:
            expected = _digest_param(request.query["digest"])
            with self.storage.blobs.ingest_for(expected) as ingest:
                async for chunk in self._count(request):
                    ingest.write(chunk)
                try:
                    digest = self.storage.commit_ingest(name, ingest, expected)
                except CorruptContent as exc:
                    raise errors.digest_invalid(detail={"expected": expected, "reason": exc.message}) from None
            self.metrics.blob_uploads_completed += 1
            return self._blob_created(name, digest)
        upload = self.uploads.start(name)
        return web.Response(status=202, headers=upload.headers())

    async def upload_status(self, request: web.Request, identity: Identity, name: str, uid: str) -> web.Response:
        return web.Response(status=204, headers=self.uploads.get(name, uid).headers())

    async def patch_upload(self, request: web.Request, identity: Identity, name: str, uid: str) -> web.Response:
        upload = self.uploads.get(name, uid)
        await upload.append(self._count(request), _content_range(request))
        return web.Response(status=202, headers=upload.headers())

    async def finish_upload(self, request: web.Request, identity: Identity, name: str, uid: str) -> web.Response:
        upload = self.uploads.get(name, uid)
        expected = _digest_param(request.query.get("digest"))
        await upload.append(self._count(request), _content_range(request))
        actual = upload.digest(algorithm_of(expected))
        if actual != expected:
            upload.cancel()
            raise errors.digest_invalid(detail={"expected": expected, "actual": actual})
        self.storage.adopt(name, upload.data_path, expected)
        upload.cancel()
        self.metrics.blob_uploads_completed += 1
        return self._blob_created(name, expected)

    async def cancel_upload(self, request: web.Request, identity: Identity, name: str, uid: str) -> web.Response:
        self.uploads.get(name, uid).cancel()
        return web.Response(status=204)

    # -- referrers ------------------------------------------------------------------------

    async def referrers(self, request: web.Request, identity: Identity, name: str, digest: str) -> web.Response:
        digest = _digest_param(digest)
        found = self.storage.referrers(name, digest)
        headers = {}
        wanted = request.query.get("artifactType")
        if wanted is not None:
            found = [d for d in found if d.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": found}
        # The spec's exact media type, with no charset parameter (json_response would add one).
        headers["Content-Type"] = mt.OCI_INDEX
        return web.Response(body=json.dumps(index).encode(), headers=headers)


def _error_response(exc: errors.RegistryError) -> web.Response:
    return web.Response(status=exc.status, body=exc.body(), content_type="application/json", headers=exc.headers)


#: The send buffer of a connection from this machine. Its round trip takes microseconds, so
#: a fixed buffer of this size never limits the rate, where the autotuned one (which grows to
#: tcp_wmem's 4 MB) made a 121 MB blob take anywhere from 18 to 70 ms to reach curl over
#: loopback (median 30 ms); with this, 17 to 24 ms for most (median 18 ms; the reference
#: registry: 38 to 48 ms). Remote peers keep autotuning, which a long round trip needs.
LOOPBACK_SEND_BUFFER = 512 << 10


def _fix_loopback_send_buffer(request: web.Request) -> None:
    import socket

    from dockyard.addresses import is_loopback

    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    peer = transport.get_extra_info("peername") if transport is not None else None
    if sock is not None and peer and is_loopback(str(peer[0])):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, LOOPBACK_SEND_BUFFER)


@web.middleware
async def _errors_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Spec-shaped error bodies for every failure, including unexpected ones (logged, never shown)."""
    try:
        return await handler(request)
    except errors.RegistryError as exc:
        return _error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return _error_response(errors.from_status(exc.status, exc.reason.lower(), headers))
    except Exception:
        log.exception("internal error on %s %s", request.method, request.rel_url.raw_path)
        return _error_response(errors.RegistryError("UNKNOWN", 500, "internal server error"))


async def _api_version_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"


def make_app(root: str, *, access: Access | None = None, notify: list[str] | tuple[str, ...] = (),
             proxy: dict | None = None) -> web.Application:
    """The registry application over `root`; `access` defaults to no authentication; `proxy`
    (PullThrough's arguments: remote, username, password, ttl) makes it a pull-through cache."""
    metrics = Metrics()
    notifier = Notifier(list(notify))
    storage = RegistryStorage(root)
    pull_through = None
    if proxy:
        from dockyard.registry.proxy import PullThrough

        pull_through = PullThrough(storage, **proxy)
    registry = Registry(storage, access or Access(), notifier, metrics, pull_through)

    @web.middleware
    async def count_requests(request: web.Request, handler) -> web.StreamResponse:
        metrics.requests += 1
        return await handler(request)

    async def metrics_endpoint(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

    app = web.Application(middlewares=[count_requests, _errors_middleware])
    app.router.add_route("*", "/v2/{tail:.*}", registry.dispatch)
    app.router.add_route("*", "/v2", registry.dispatch)
    app.router.add_get("/metrics", metrics_endpoint)
    registry.access.install(app)
    app.on_response_prepare.append(_api_version_header)
    app.on_startup.append(lambda _app: notifier.start())
    app.on_cleanup.append(lambda _app: notifier.stop())
    if pull_through is not None:
        async def close_upstream(_app) -> None:
            pull_through.close()
        app.on_cleanup.append(close_upstream)
    return app
