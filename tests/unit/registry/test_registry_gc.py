"""Garbage collection over the registry's storage: what is kept, what goes, and concurrent writers."""

from __future__ import annotations

import hashlib
import json

from dockyard.registry import gc, manifests
from dockyard.registry.storage import RegistryStorage

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(storage: RegistryStorage, repo: str, data: bytes) -> str:
    ingest = storage.blobs.ingest()
    ingest.write(data)
    return storage.commit_ingest(repo, ingest, _digest(data))


def _desc(media_type: str, data: bytes) -> dict:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


def _manifest(storage: RegistryStorage, repo: str, tag: str | None, config: bytes, layers: list[bytes], **extra):
    for b in (config, *layers):
        _blob(storage, repo, b)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _desc("application/vnd.oci.image.config.v1+json", config),
           "layers": [_desc("application/vnd.oci.image.layer.v1.tar", layer) for layer in layers], **extra}
    data = json.dumps(doc).encode()
    return storage.put_manifest(repo, data, manifests.parse(data, OCI_MANIFEST), tag), data


def test_gc_keeps_what_tags_reach_and_sweeps_the_rest(tmp_path):
    s = RegistryStorage(tmp_path)
    tagged, tagged_body = _manifest(s, "acme/app", "v1", b'{"c":1}', [b"layer-1"])
    untagged, _ = _manifest(s, "acme/app", None, b'{"c":2}', [b"layer-2"])
    referrer, _ = _manifest(s, "acme/app", None, b'{"sig":1}', [b"signature"],
                            subject={"mediaType": OCI_MANIFEST, "digest": tagged, "size": len(tagged_body)})
    child, child_body = _manifest(s, "acme/multi", None, b'{"c":3}', [b"layer-3"])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_body)}]}).encode()
    s.put_manifest("acme/multi", index, manifests.parse(index, OCI_INDEX), "latest")
    stray = _blob(s, "acme/app", b"uploaded but never referenced")
    garbage = {untagged, _digest(b'{"c":2}'), _digest(b"layer-2"), stray}

    sizes = sum(s.blobs.size(d) for d in garbage)

    dry = gc(tmp_path, dry_run=True)
    assert set(dry.deleted) == garbage
    assert all(s.blobs.exists(d) for d in garbage)

    report = gc(tmp_path)
    assert set(report.deleted) == garbage
    assert report.freed_bytes == sizes
    assert not any(s.blobs.exists(d) for d in garbage)
    for kept in (tagged, referrer, _digest(b"layer-1"), _digest(b"signature"), child, _digest(b"layer-3")):
        assert s.blobs.exists(kept)
    assert not s.has_blob("acme/app", stray)  # links go with their blob
    assert s.get_manifest("acme/app", "v1").digest == tagged
    assert [d["digest"] for d in s.referrers("acme/app", tagged)] == [referrer]
    assert gc(tmp_path).deleted == []


def test_blobs_uploaded_or_referenced_during_gc_survive(tmp_path):
    s = RegistryStorage(tmp_path)
    _manifest(s, "acme/app", "v1", b"{}", [b"base"])
    old_unreferenced = _blob(s, "acme/app", b"pushed earlier, manifest comes during gc")
    doomed = _blob(s, "acme/app", b"nobody wants me")
    during: dict[str, str] = {}

    def concurrent_push():
        during["new"] = _blob(s, "acme/app", b"uploaded while gc runs")
        during["manifest"], _ = _manifest(s, "acme/app", "v2", b"{}", [b"pushed earlier, manifest comes during gc"])

    report = gc(tmp_path, after_mark=concurrent_push)
    assert report.deleted == [doomed]
    assert s.has_blob("acme/app", during["new"])
    assert s.has_blob("acme/app", old_unreferenced)
    assert s.get_manifest("acme/app", "v2").digest == during["manifest"]
    assert report.kept_recent >= 2
