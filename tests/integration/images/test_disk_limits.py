"""What a layer declares cannot exhaust the host, whichever way it arrives (load, import, pull,
build, commit): sparse files stay sparse, a decompression bomb or a layer larger than the room
left stops at the root's min-free-space with one line, and a disk that fills up (ENOSPC) mid-way
ends with one line too. Either way the store stays clean, nothing of the failed operation is
left on the disk (measured with statvfs), and the same operation succeeds once there is room.

Every root here is a 64 MiB tmpfs of its own, so nothing can fill the host's disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import Dockyard
from tests.helpers.archives import classic_docker_archive
from tests.helpers.layertars import TarBuilder
from tests.helpers.smallfs import fill, small_tmpfs, used
from tests.integration.registry.registry_harness import Server, push_blob

pytestmark = pytest.mark.root

SPARSE_SIZE = 10 << 30      # what the sparse layer declares
BOMB_SIZE = 256 << 20       # what the bomb unpacks to: four times the whole filesystem
LARGE_SIZE = 40 << 20       # a layer that fits as a blob or unpacked, not both
SLACK = 1 << 20             # what the metadata DB may grow by in a failed operation
RESERVE = "8MiB"


# -- layers ------------------------------------------------------------------------------------

class Layer(NamedTuple):
    """A layer blob as a registry would serve it, with the diff ID an image config names."""

    blob: bytes
    diff_id: str
    media_type: str


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    return info.tobuf(tarfile.USTAR_FORMAT)


def _compressed_zeros(kind: str) -> Layer:
    """A tar of one BOMB_SIZE file of zeros, gzip or zstd: a few hundred KB."""
    tar_head, tail = _tar_header("zeros", BOMB_SIZE), bytes(1024 + (-BOMB_SIZE % 512))
    h = hashlib.sha256()
    chunk = bytes(1 << 20)
    if kind == "gzip":
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        push, finish = comp.compress, comp.flush
    else:
        import zstandard

        comp = zstandard.ZstdCompressor(level=3).compressobj()
        push, finish = comp.compress, comp.flush
    out = [push(tar_head)]
    h.update(tar_head)
    for _ in range(BOMB_SIZE >> 20):
        out.append(push(chunk))
        h.update(chunk)
    out.append(push(tail))
    h.update(tail)
    out.append(finish())
    media = "application/vnd.oci.image.layer.v1.tar+" + kind
    return Layer(b"".join(out), "sha256:" + h.hexdigest(), media)


def _plain(tar: bytes) -> Layer:
    return Layer(tar, "sha256:" + hashlib.sha256(tar).hexdigest(), "application/vnd.oci.image.layer.v1.tar")


@pytest.fixture(scope="module")
def layers() -> dict[str, Layer]:
    sparse = TarBuilder().file("etc/hostname", b"sparse\n").sparse(
        "big", SPARSE_SIZE, [(4096, b"h" * 4096), (SPARSE_SIZE - 4, b"tail")], "1.0").bytes()
    large = TarBuilder().file("big", os.urandom(LARGE_SIZE)).bytes()
    return {"sparse": _plain(sparse), "gzip-bomb": _compressed_zeros("gzip"), "zstd-bomb": _compressed_zeros("zstd"),
            "large": _plain(large)}


def _config(layer: Layer) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                       "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}}).encode()


# -- a root on a small filesystem ----------------------------------------------------------------

@dataclass
class Small:
    dy: Dockyard
    fs: Path

    def state(self) -> int:
        return used(self.fs)

    def set_reserve(self, value) -> None:
        path = self.dy.root / "daemon.json"
        cfg = json.loads(path.read_text())
        cfg["min-free-space"] = value
        path.write_text(json.dumps(cfg))

    def assert_clean(self, before: int, images: list[str]) -> None:
        """The store is clean, lists `images`, and holds nothing more than `before` on the disk."""
        assert "store is clean" in self.dy("system", "check").out
        listed = self.dy("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
        assert sorted(listed) == sorted(images)
        assert self.state() - before < SLACK, f"{self.state() - before} bytes left behind"
        for scratch in ("ingest", "ingest-partial"):
            path = self.dy.root / scratch
            assert not path.exists() or not any(path.iterdir()), f"{scratch}/ is not empty"


@pytest.fixture
def small(tmp_path):
    run_dir = Path(tempfile.mkdtemp(prefix="dyr-", dir="/tmp"))
    with small_tmpfs(tmp_path / "fs") as fs:
        d = Dockyard(fs / "root", run_dir)
        s = Small(d, fs)
        s.set_reserve(RESERVE)
        try:
            yield s
        finally:
            d.cleanup()
    shutil.rmtree(run_dir, ignore_errors=True)


def refused(small: Small, *args, match: str, input=None, code: int = 125) -> str:
    r = small.dy(*args, input=input, check=False)
    assert r.code == code, r
    assert "Traceback" not in r.err, r.err
    errors = [line for line in r.err.splitlines() if match in line]
    assert errors, r.err
    if code == 125:
        assert len(r.err.strip().splitlines()) == 1, r.err
    return errors[0]


def snapshot_file(small: Small, image: str, name: str) -> os.stat_result:
    eng = small.dy.engine()
    return os.stat(eng.snapshots.fs(eng.images.top_layer(eng.images.get(image))) / name)


def assert_sparse(small: Small, image: str, before: int) -> None:
    st = snapshot_file(small, image, "big")
    assert st.st_size == SPARSE_SIZE and st.st_blocks * 512 <= 64 << 10
    assert small.state() - before < SLACK  # kilobytes (and the DB's pages), not gigabytes


# -- the routes ------------------------------------------------------------------------------

def load(small: Small, layer: Layer, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.tar"
    path.write_bytes(classic_docker_archive([layer.blob], [f"{name}:1"], config=_config(layer)))
    return path


@pytest.fixture
def registry(tmp_path):
    server = Server(tmp_path / "reg", tmp_path / "reg.log")
    try:
        yield server
    finally:
        server.stop()


def publish(server: Server, name: str, layer: Layer) -> str:
    """Push `layer` as the one layer of `<registry>/<name>:1` without unpacking it anywhere."""
    config = _config(layer)
    push_blob(server, name, config)
    push_blob(server, name, layer.blob)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
                "layers": [{"mediaType": layer.media_type, "digest": "sha256:" + hashlib.sha256(layer.blob).hexdigest(),
                            "size": len(layer.blob)}]}
    resp = server.request("PUT", f"/v2/{name}/manifests/1", json.dumps(manifest).encode(),
                          {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert resp.status == 201, resp.body
    return f"{server.host}/{name}:1"


def test_sparse_layer_stays_sparse_through_load_import_and_pull(small, layers, tmp_path, registry):
    sparse = layers["sparse"]
    before = small.state()
    small.dy("load", "-i", str(load(small, sparse, tmp_path, "loaded")))
    assert_sparse(small, "loaded:1", before)

    before = small.state()
    tar = tmp_path / "sparse.tar"
    tar.write_bytes(sparse.blob)
    small.dy("import", str(tar), "imported:1")
    assert_sparse(small, "imported:1", before)

    before = small.state()
    ref = publish(registry, "evil/sparse", sparse)
    small.dy("pull", ref)
    assert_sparse(small, ref, before)
    assert "store is clean" in small.dy("system", "check").out


def test_sparse_layer_added_in_a_build_stays_sparse(small, layers, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    # smaller than the others: the build's commit reads the file through (as Docker's does)
    size = 256 << 20
    (ctx / "sparse.tar").write_bytes(TarBuilder().sparse("big", size, [(size - 4, b"tail")], "0.1").bytes())
    (ctx / "Dockerfile").write_text("FROM scratch\nADD sparse.tar /\n")
    before = small.state()
    small.dy("build", "-q", "-t", "built:1", str(ctx))
    st = snapshot_file(small, "built:1", "big")
    assert st.st_size == size and st.st_blocks * 512 <= 64 << 10
    assert small.state() - before < SLACK + (1 << 20)  # the layer blob: 256 MiB of zeros, gzipped


@pytest.mark.parametrize("kind", ["gzip-bomb", "zstd-bomb", "large"])
def test_load_stops_at_the_reserve(small, layers, tmp_path, kind):
    layer = layers[kind]
    archive = load(small, layer, tmp_path, "evil")
    before = small.state()
    line = refused(small, "load", "-i", str(archive), match="min-free-space (8MiB) keeps 8.0 MiB")
    assert line.startswith("Error: layer sha256:") or line.startswith("Error: blob ")
    small.assert_clean(before, [])
    small.set_reserve(0)  # the bomb then meets the disk's end itself: still one line, still clean
    refused(small, "load", "-i", str(archive), match="no space left on device")
    small.assert_clean(before, [])


def test_vfs_root_stops_at_the_reserve_and_keeps_sparse_files_sparse(small, layers, tmp_path):
    """The vfs driver copies each layer's parent tree before applying it: the same limits hold."""
    (small.dy.root / "storage-driver").write_text("vfs\n")
    before = small.state()
    small.dy("load", "-i", str(load(small, layers["sparse"], tmp_path, "sparse")))
    assert small.dy.engine().snapshots.name == "vfs"
    assert_sparse(small, "sparse:1", before)
    before = small.state()
    refused(small, "load", "-i", str(load(small, layers["gzip-bomb"], tmp_path, "evil")),
            match="min-free-space (8MiB) keeps 8.0 MiB")
    small.assert_clean(before, ["sparse:1"])


@pytest.mark.parametrize("kind", ["gzip-bomb", "large"])
def test_import_stops_at_the_reserve(small, layers, tmp_path, kind):
    path = tmp_path / "rootfs.tar"
    path.write_bytes(layers[kind].blob)
    before = small.state()
    refused(small, "import", str(path), "evil:1", match="min-free-space (8MiB) keeps 8.0 MiB")
    small.assert_clean(before, [])


@pytest.mark.parametrize("kind", ["gzip-bomb", "zstd-bomb", "large"])
def test_pull_stops_at_the_reserve(small, layers, registry, kind):
    ref = publish(registry, f"evil/{kind}", layers[kind])
    before = small.state()
    refused(small, "pull", ref, match="min-free-space (8MiB) keeps 8.0 MiB")
    small.assert_clean(before, [])


@pytest.mark.parametrize("kind", ["gzip-bomb", "large"])
def test_build_stops_at_the_reserve(small, layers, tmp_path, kind):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    if kind == "large":  # fits in the step's rootfs, not with its layer blob beside it
        (ctx / "big").write_bytes(layers["large"].blob)
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY big /big\n")
    else:
        (ctx / "bomb.tar.gz").write_bytes(layers[kind].blob)
        (ctx / "Dockerfile").write_text("FROM scratch\nADD bomb.tar.gz /\n")
    before = small.state()
    refused(small, "build", "-t", "evil:1", str(ctx), code=1, match="min-free-space (8MiB) keeps 8.0 MiB")
    small.assert_clean(before, [])


# -- a disk that fills up mid-way ---------------------------------------------------------------

def test_full_disk_during_load_import_and_pull_then_room(small, layers, tmp_path, registry):
    """No reserve: the disk's end (ENOSPC) stops them; once there is room they succeed."""
    small.set_reserve(0)
    layer = _plain(TarBuilder().file("data", os.urandom(12 << 20)).bytes())
    archive = load(small, layer, tmp_path, "fits")
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(layer.blob)
    ref = publish(registry, "ok/fits", layer)
    ballast = fill(small.fs, 18 << 20)  # room for the blob, not for the blob and its files
    before = small.state()
    commands = (("load", "-i", str(archive)), ("import", str(rootfs), "imported:1"), ("pull", ref))
    for args in commands:
        refused(small, *args, match="no space left on device")
        small.assert_clean(before, [])
    ballast.unlink()
    for args in commands:
        small.dy(*args)
    assert "store is clean" in small.dy("system", "check").out
    for image in ("fits:1", "imported:1", ref):
        assert snapshot_file(small, image, "data").st_size == 12 << 20


@pytest.mark.parametrize("step", ["COPY data /data", "RUN dd if=/dev/urandom of=/data bs=1M count=12"])
def test_full_disk_during_build_and_commit_then_room(small, tmp_path, step):
    small.set_reserve(0)
    small.dy("image", "bootstrap", "busybox")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "data").write_bytes(os.urandom(12 << 20))
    (ctx / "Dockerfile").write_text(f"FROM busybox\n{step}\n")
    small.dy("run", "--network", "none", "--name", "writer", "busybox", "dd", "if=/dev/urandom", "of=/data", "bs=1M", "count=12")
    ballast = fill(small.fs, 18 << 20)  # room for the files, not for them and their layer blob
    before = small.state()
    refused(small, "build", "-t", "built:1", str(ctx), code=1, match="no space left on device")
    small.assert_clean(before, ["busybox:latest"])
    refused(small, "commit", "writer", "committed:1", match="no space left on device")
    small.assert_clean(before, ["busybox:latest"])
    ballast.unlink()
    small.dy("build", "-q", "-t", "built:1", str(ctx))
    small.dy("commit", "writer", "committed:1")
    assert "store is clean" in small.dy("system", "check").out
    for image in ("built:1", "committed:1"):
        assert snapshot_file(small, image, "data").st_size == 12 << 20


def test_engine_api_refuses_load_with_one_line(small, layers, tmp_path):
    """The docker CLI and docker-py against `dockyard serve` on the small root: `load` answers
    200 and tells the failure in its stream, as dockerd does."""
    import docker

    from tests.e2e.api.conftest import DOCKER, start_server

    archive = load(small, layers["gzip-bomb"], tmp_path, "evil")
    sock = tmp_path / "d.sock"
    proc = start_server(small.dy, sock)
    try:
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path / "docker-config")}
        before = small.state()
        p = subprocess.run([DOCKER, "load", "-i", str(archive)], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 1
        assert p.stderr.startswith("layer sha256:") and "min-free-space" in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
        client = docker.DockerClient(base_url=f"unix://{sock}", timeout=60)
        with pytest.raises(docker.errors.ImageLoadError) as err:
            client.images.load(archive.read_bytes())
        assert "min-free-space (8MiB)" in str(err.value)
        small.assert_clean(before, [])
    finally:
        proc.terminate()
        proc.wait(10)
