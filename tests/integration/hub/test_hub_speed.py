"""Pages stay fast with 1,000 tags: the repository page, its layer graph and the list (timings printed)."""

from __future__ import annotations

import json
import time

from hub_harness import HubServer

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_digest
from dockyard.registry import manifests
from dockyard.registry.storage import RegistryStorage

TAGS = 1000


def _fill(root, repo: str) -> None:
    """1,000 tags over 20 images that share one base layer, written through the registry's storage."""
    storage = RegistryStorage(root)
    base = b"base layer " * 1000
    for blob in (base, *(f"layer {g}".encode() for g in range(20))):
        with storage.blobs.ingest() as ingest:
            ingest.write(blob)
            storage.commit_ingest(repo, ingest, sha256_digest(blob))
    for i in range(TAGS):
        top = f"layer {i % 20}".encode()
        config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-05-01T12:00:00Z",
                             "config": {"Labels": {"n": str(i)}},
                             "rootfs": {"type": "layers", "diff_ids": [sha256_digest(base), sha256_digest(top)]}}).encode()
        with storage.blobs.ingest() as ingest:
            ingest.write(config)
            storage.commit_ingest(repo, ingest, sha256_digest(config))
        doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
               "config": {"mediaType": mt.OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
               "layers": [{"mediaType": mt.OCI_LAYER, "digest": sha256_digest(b), "size": len(b)} for b in (base, top)]}
        data = json.dumps(doc).encode()
        storage.put_manifest(repo, data, manifests.parse(data, mt.OCI_MANIFEST), f"v{i}")


def _timed(hub: HubServer, path: str) -> tuple[float, str]:
    start = time.perf_counter()
    status, body = hub.get(path)
    assert status == 200, body[:300]
    return time.perf_counter() - start, body


def test_repository_page_with_1000_tags(start_hub, tmp_path):
    root = tmp_path / "hub"
    _fill(root, "big/app")
    hub = start_hub(root=root)
    cold, body = _timed(hub, "/r/big/app")
    warm = min(_timed(hub, "/r/big/app")[0] for _ in range(5))
    listing = min(_timed(hub, "/")[0] for _ in range(5))
    image = min(_timed(hub, "/r/big/app/-/image/v999")[0] for _ in range(5))
    print(f"\n1,000 tags: repository page cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms, "
          f"{len(body) // 1024} KiB; list {listing * 1000:.0f} ms; image page {image * 1000:.0f} ms")
    assert body.count("<tr data-tag=") == TAGS
    assert body.count('class="layer"') == 21  # the shared base once, 20 tops (graph of the newest 200 tags)
    assert "most recently pushed of 1000 tags" in body
    assert warm < 2.0 and cold < 5.0
