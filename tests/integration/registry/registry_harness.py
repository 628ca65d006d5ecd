"""A real registry server (`python -m dockyard.registry`) on a free loopback port, and clients for it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.servers import first_line


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def error_codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


class Server:
    def __init__(self, root: Path, log: Path, *args: str) -> None:
        self.root = root
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard.registry", "--addr", "127.0.0.1:0", "--root", str(root), *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        line = first_line(self.proc, self.proc.stdout)
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"registry did not start: {line!r} {log.read_text()}")
        self.url = line.split()[-1]
        self.host = self.url.split("://", 1)[1]

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None) -> Response:
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, dict(err.headers), err.read())

    def metric(self, name: str) -> int:
        for line in self.request("GET", "/metrics").body.decode().splitlines():
            if line.startswith(f"dockyard_registry_{name}_total "):
                return int(line.split()[1])
        raise KeyError(name)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run skopeo with plain HTTP to loopback registries allowed."""
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {proc.stderr}")
    return proc


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def digest_of(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(server: Server, repo: str, data: bytes) -> str:
    """Monolithic upload (POST ?digest=); returns the digest."""
    digest = digest_of(data)
    resp = server.request("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data)
    assert resp.status == 201, resp.body
    return digest


def image_manifest(config: bytes, layers: list[bytes], **extra) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest_of(layer),
                    "size": len(layer)} for layer in layers],
        **extra,
    }


def push_image(server: Server, repo: str, ref: str, config: bytes = b"{}", layers=(b"layer",), **extra) -> tuple[str, bytes]:
    """Push blobs and an OCI manifest under `ref`; returns (manifest digest, manifest bytes)."""
    for blob in (config, *layers):
        push_blob(server, repo, blob)
    body = json.dumps(image_manifest(config, list(layers), **extra)).encode()
    resp = server.request("PUT", f"/v2/{repo}/manifests/{ref}", body,
                          {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.status == 201, resp.body
    return resp.headers["Docker-Content-Digest"], body
