"""Helpers for registry-client tests: a hand-built image, the reference registry, fake registries, a byte-counting proxy."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from dockyard.oci import mediatypes
from dockyard.oci.digest import sha256_digest
from dockyard.store.content import ContentStore


@dataclass
class Image:
    manifest_digest: str
    config_digest: str
    layer_digests: list[str]
    manifest: dict


def make_layer(files: dict[str, bytes], compress: bool = True) -> tuple[bytes, str]:
    """A layer tar of `files` (gzip-compressed unless not `compress`), and its diff_id (digest of the uncompressed tar)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw, sha256_digest(raw)


def build_image(content: ContentStore, layers: list[dict[str, bytes]], *, arch: str = "amd64",
                docker: bool = False, compress: bool = True) -> Image:
    """Put an image (layers, config, manifest) into `content`, in OCI or Docker schema2 form."""
    layer_mt = mediatypes.DOCKER_LAYER_GZIP if docker else mediatypes.OCI_LAYER_GZIP
    if not compress:
        layer_mt = mediatypes.OCI_LAYER
    descs, diff_ids = [], []
    for files in layers:
        blob, diff_id = make_layer(files, compress)
        descs.append({"mediaType": layer_mt, "digest": content.put(blob), "size": len(blob)})
        diff_ids.append(diff_id)
    config = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST if docker else mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.DOCKER_CONFIG if docker else mediatypes.OCI_CONFIG,
                   "digest": content.put(config), "size": len(config)},
        "layers": descs,
    }
    digest = content.put(json.dumps(manifest).encode())
    return Image(digest, manifest["config"]["digest"], [d["digest"] for d in descs], manifest)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    host: str
    root: Path
    log: Path


def _wait_http(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"registry exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"registry did not start: {log.read_text()[-2000:]}")


def start_registry(tmp_path: Path, htpasswd: Path | None = None):
    """Run Debian's reference registry (distribution 2.x) on a free loopback port; a generator fixture body."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry (Debian package docker-registry) is not installed")
    port = free_port()
    root = tmp_path / "registry"
    auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n" if htpasswd else ""
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n" + auth
    )
    log = tmp_path / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/v2/", proc, log)
        yield Registry(f"127.0.0.1:{port}", root, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class CountingProxy:
    """A TCP proxy that counts the bytes clients send upstream: an independent measure of what a push sent."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.sent = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    with self._lock:
                        self.sent += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closing = True
        self._server.close()


class FakeRegistry:
    """The protocol peer for fault tests: serves manifests and blobs from dicts, logs every request.

    `blob_hook(request, digest, data)` may return a response to replace the normal one.
    """

    def __init__(self, manifests: dict[str, tuple[bytes, str]], blobs: dict[str, bytes]) -> None:
        self.manifests = manifests
        self.blobs = blobs
        self.log: list[tuple[str, str, dict]] = []
        self.blob_hook = None
        self.app = web.Application(middlewares=[self._record])
        self.app.router.add_get("/v2/", self._ping)
        self.app.router.add_route("*", "/v2/{name:.+}/manifests/{ref}", self._manifest)
        self.app.router.add_get("/v2/{name:.+}/blobs/{digest}", self._blob)

    @web.middleware
    async def _record(self, request, handler):
        self.log.append((request.method, request.path, dict(request.headers)))
        return await handler(request)

    async def _ping(self, request):
        return web.json_response({})

    async def _manifest(self, request):
        ref = request.match_info["ref"]
        if ref not in self.manifests:
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                                     status=404)
        data, media_type = self.manifests[ref]
        return web.Response(body=data, headers={"Content-Type": media_type,
                                                "Docker-Content-Digest": sha256_digest(data)})

    async def _blob(self, request):
        digest = request.match_info["digest"]
        if digest not in self.blobs:
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN"}]}, status=404)
        data = self.blobs[digest]
        if self.blob_hook is not None:
            resp = await self.blob_hook(request, digest, data)
            if resp is not None:
                return resp
        return web.Response(body=data, content_type="application/octet-stream")

    def blob_requests(self, digest: str) -> list[dict]:
        return [h for m, p, h in self.log if m == "GET" and p.endswith(f"/blobs/{digest}")]


def fake_from_store(content: ContentStore, image: Image, tag: str = "latest") -> FakeRegistry:
    blobs = {d: content.read(d) for d in [image.config_digest, *image.layer_digests]}
    data = content.read(image.manifest_digest)
    return FakeRegistry({tag: (data, image.manifest["mediaType"]),
                         image.manifest_digest: (data, image.manifest["mediaType"])}, blobs)
