"""Pulls that go wrong: corrupt blobs leave nothing behind, broken downloads resume with Range."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
from aiohttp import web
from tests.integration.distribution.distribution_support import build_image, fake_from_store

from dockyard.distribution.pull import pull
from dockyard.distribution.client import TransferInterrupted
from dockyard.errors import CorruptContent
from dockyard.oci.reference import parse_normalized
from dockyard.store.content import ContentStore

pull_module = importlib.import_module("dockyard.distribution.pull")  # the module, not the re-exported function


def test_corrupt_blob_fails_cleanly_and_leaves_nothing(serve, store, image, tmp_path):
    fake = fake_from_store(store, image)
    layer = image.layer_digests[0]
    good = fake.blobs[layer]
    fake.blobs[layer] = bytes([good[0] ^ 0xFF]) + good[1:]  # same size, wrong bytes
    host = serve(fake.app)
    other = ContentStore(tmp_path / "other")

    with pytest.raises(CorruptContent) as e:
        pull(parse_normalized(f"{host}/app:latest"), other)
    assert e.value.message == f"blob {layer} from {host} failed verification: digest mismatch"
    assert not other.exists(layer) and not other.exists(image.manifest_digest)
    assert list((other.root / "ingest-partial").iterdir()) == []
    assert other.stray_ingests() == []


def test_oversized_blob_is_refused(serve, store, image, tmp_path):
    fake = fake_from_store(store, image)
    fake.blobs[image.config_digest] += b"trailing"
    host = serve(fake.app)
    other = ContentStore(tmp_path / "other")
    with pytest.raises(CorruptContent, match=f"blob {image.config_digest} from {host} failed verification"):
        pull(parse_normalized(f"{host}/app:latest"), other)
    assert not other.exists(image.config_digest)
    assert not (other.root / "ingest-partial" / image.config_digest.split(":")[1]).exists()


def _dropping_hook(state: dict, digest: str, piece: int):
    """Serve `digest` honouring Range, but while `state['drop']` cut each answer off after `piece` bytes."""
    async def hook(request, wanted, data):
        if wanted != digest:
            return None
        start = 0
        if "Range" in request.headers:
            start = int(request.headers["Range"].removeprefix("bytes=").split("-")[0])
        resp = web.StreamResponse(status=206 if start else 200, headers={
            "Content-Length": str(len(data) - start), "Content-Type": "application/octet-stream",
            **({"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start else {})})
        await resp.prepare(request)
        if state["drop"]:
            await resp.write(data[start:start + piece])
            request.transport.close()
            return resp
        await resp.write(data[start:])
        await resp.write_eof()
        return resp
    return hook


def test_interrupted_pull_resumes_and_skips_finished_blobs(serve, store, tmp_path, monkeypatch):
    monkeypatch.setattr(pull_module, "RETRY_DELAY", 0)
    image = build_image(store, [{"big": os.urandom(2 << 20)}, {"small": b"tiny"}])
    big_size = store.size(image.layer_digests[0])
    fake = fake_from_store(store, image)
    big = image.layer_digests[0]
    piece = 256 * 1024
    state = {"drop": True}
    fake.blob_hook = _dropping_hook(state, big, piece)
    host = serve(fake.app)
    ref = parse_normalized(f"{host}/app:latest")
    other = ContentStore(tmp_path / "other")

    with pytest.raises(TransferInterrupted):
        pull(ref, other)
    attempts = fake.blob_requests(big)
    assert len(attempts) == pull_module.RETRIES + 1
    assert "Range" not in attempts[0] and attempts[1]["Range"] == f"bytes={piece}-"
    kept = (other.root / "ingest-partial" / big.split(":")[1]).stat().st_size
    assert kept == len(attempts) * piece < big_size
    assert other.exists(image.config_digest) and other.exists(image.layer_digests[1])
    assert not other.exists(big) and not other.exists(image.manifest_digest)

    state["drop"] = False
    fake.log.clear()
    result = pull(ref, other)
    assert result.manifest_digest == image.manifest_digest
    assert [h.get("Range") for h in fake.blob_requests(big)] == [f"bytes={kept}-"]
    assert fake.blob_requests(image.config_digest) == [] and fake.blob_requests(image.layer_digests[1]) == []
    assert other.verify(big)
    assert list((other.root / "ingest-partial").iterdir()) == []


def test_server_ignoring_range_restarts_from_zero(serve, store, image, tmp_path):
    fake = fake_from_store(store, image)
    big = image.layer_digests[0]
    host = serve(fake.app)
    other = ContentStore(tmp_path / "other")
    partial = other.root / "ingest-partial" / big.split(":")[1]
    partial.parent.mkdir()
    partial.write_bytes(b"garbage that is not the blob's prefix")

    pull(parse_normalized(f"{host}/app:latest"), other)  # FakeRegistry answers 200 with the whole blob
    assert other.verify(big) and not partial.exists()


def scratch_layers(engine) -> list[str]:
    """Snapshot directories no snapshot row names: scratch layers a pull left behind."""
    recorded = {s.dir for s in engine.snapshots.all()}
    return [p.name for p in engine.snapshots.root.iterdir() if p.is_dir() and p.name not in recorded]


def test_layers_unpacked_during_the_download_become_the_image(serve, store, image, tmp_path):
    from dockyard.distribution.images import pull_image
    from dockyard.engine import Engine

    host = serve(fake_from_store(store, image).app)
    engine = Engine(tmp_path / "root", tmp_path / "run")
    images = engine.images
    streamed = []
    real = images.layer_streams

    def spying(**kwargs):
        streams = real(**kwargs)
        original = streams.take
        streams.take = lambda key: streamed.append(original(key)) or streamed[-1]
        return streams
    images.layer_streams = spying
    pull_image(images, parse_normalized(f"{host}/app:latest"))
    assert len(streamed) == 2 and all(streamed)  # both layers came from their streams
    top = engine.snapshots.get(images.top_layer(images.get(f"{host}/app:latest")))
    lower = engine.snapshots.root / engine.snapshots.get(top.parent).dir / "fs"
    assert (lower / "etc" / "hostname").read_bytes() == b"dockyard\n"
    assert (engine.snapshots.root / top.dir / "fs" / "etc" / "motd").read_bytes() == b"hello\n"
    assert scratch_layers(engine) == []


def test_a_corrupt_layer_streamed_leaves_no_scratch_layer(serve, store, image, tmp_path):
    from dockyard.distribution.images import pull_image
    from dockyard.engine import Engine

    fake = fake_from_store(store, image)
    layer = image.layer_digests[0]
    good = fake.blobs[layer]
    fake.blobs[layer] = good[:100] + bytes([good[100] ^ 0xFF]) + good[101:]
    host = serve(fake.app)
    engine = Engine(tmp_path / "root", tmp_path / "run")
    with pytest.raises(CorruptContent, match="failed verification: digest mismatch"):
        pull_image(engine.images, parse_normalized(f"{host}/app:latest"))
    assert scratch_layers(engine) == [] and engine.snapshots.all() == []
    assert engine.images.list() == []


# A pull the way the CLI makes it, in a process of its own, with the layers applied by forked
# children. Prints what happened as JSON.
FORKED_PULL = """
import json, os, sys
from dockyard.distribution.images import pull_image
from dockyard.engine import Engine
from dockyard.oci.reference import parse_normalized

engine = Engine(sys.argv[1], sys.argv[2])
images, streamed, children = engine.images, [], []
real_streams, real_fork = images.layer_streams, os.fork

def fork():
    pid = real_fork()
    if pid:
        children.append(pid)
    return pid

def spying(**kwargs):
    streams = real_streams(**kwargs)
    take = streams.take
    def spied(key):
        taken = take(key)
        streamed.append(taken is not None)
        return taken
    streams.take = spied
    return streams

os.fork, images.layer_streams = fork, spying
try:
    pull_image(images, parse_normalized(sys.argv[3]), may_fork=True)
    outcome = "pulled"
except Exception as e:
    outcome = f"{type(e).__name__}: {e}"

def reaped(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False

print(json.dumps({"outcome": outcome, "streamed": streamed, "children": len(children),
                  "reaped": all(map(reaped, children))}))
"""


def forked_pull(tmp_path, host: str) -> dict:
    out = subprocess.run([sys.executable, "-c", FORKED_PULL, str(tmp_path / "root"), str(tmp_path / "run"),
                          f"{host}/app:latest"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "uncompressed"])
def test_layers_applied_by_forked_children_become_the_image(serve, store, tmp_path, compress):
    from dockyard.engine import Engine

    image = build_image(store, [{"bin/big": os.urandom(600_000), "etc/hostname": b"dockyard\n"},
                                {"etc/motd": b"hello\n"}], compress=compress)
    host = serve(fake_from_store(store, image).app)

    result = forked_pull(tmp_path, host)
    assert result == {"outcome": "pulled", "streamed": [True, True], "children": 2, "reaped": True}
    engine = Engine(tmp_path / "root", tmp_path / "run")
    top = engine.snapshots.get(engine.images.top_layer(engine.images.get(f"{host}/app:latest")))
    lower = engine.snapshots.root / engine.snapshots.get(top.parent).dir / "fs"
    assert (lower / "etc" / "hostname").read_bytes() == b"dockyard\n"
    assert (engine.snapshots.root / top.dir / "fs" / "etc" / "motd").read_bytes() == b"hello\n"
    assert scratch_layers(engine) == []


def test_a_corrupt_uncompressed_layer_fails_the_forked_pull_and_leaves_nothing(serve, store, tmp_path):
    from dockyard.engine import Engine

    image = build_image(store, [{"bin/big": os.urandom(600_000)}], compress=False)
    fake = fake_from_store(store, image)
    layer = image.layer_digests[0]
    good = fake.blobs[layer]
    fake.blobs[layer] = good[:-2000] + bytes([good[-2000] ^ 0xFF]) + good[-1999:]  # inside the file data
    host = serve(fake.app)

    result = forked_pull(tmp_path, host)
    assert result["outcome"] == f"CorruptContent: blob {layer} from {host} failed verification: digest mismatch"
    assert result["reaped"] and result["children"] == 1
    engine = Engine(tmp_path / "root", tmp_path / "run")
    assert scratch_layers(engine) == [] and engine.snapshots.all() == [] and engine.images.list() == []

