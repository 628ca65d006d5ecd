"""Which manifest a push sends: compressed layers in place of plain tars, in images and indexes."""

from __future__ import annotations

import json

from dockyard.distribution.compress import Compression, for_push
from dockyard.oci.image import canonical_json
from dockyard.store.content import ContentStore
from tests.integration.distribution.distribution_support import build_image

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def test_index_children_are_compressed_and_the_rest_kept(tmp_path):
    store = ContentStore(tmp_path)
    plain = build_image(store, [{"a": b"x" * 1000}], compress=False)
    gzipped = build_image(store, [{"b": b"y" * 1000}], arch="arm64")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": image.manifest_digest, "size": store.size(image.manifest_digest),
         "platform": {"os": "linux", "architecture": arch}}
        for image, arch in ((plain, "amd64"), (gzipped, "arm64"))]}
    digest = store.put(canonical_json(index))

    pushed = json.loads(store.read(for_push(store, digest, Compression())))
    first, second = pushed["manifests"]
    assert first["digest"] != plain.manifest_digest and first["platform"]["architecture"] == "amd64"
    assert second == index["manifests"][1]  # already gzip: untouched
    layer = json.loads(store.read(first["digest"]))["layers"][0]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert store.read(layer["digest"])[:2] == b"\x1f\x8b" and first["size"] == store.size(first["digest"])
    # the same again: remembered, the same digests
    assert for_push(store, digest, Compression()) == for_push(store, digest, Compression())
    assert for_push(store, gzipped.manifest_digest, Compression()) == gzipped.manifest_digest


def test_docker_schema2_stays_schema2_with_gzip_and_turns_oci_with_zstd(tmp_path):
    store = ContentStore(tmp_path)
    image = build_image(store, [{"a": b"x" * 1000}], docker=True, compress=False)
    gz = json.loads(store.read(for_push(store, image.manifest_digest, Compression())))
    assert gz["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert gz["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    zst = json.loads(store.read(for_push(store, image.manifest_digest, Compression("zstd"))))
    assert zst["mediaType"] == OCI_MANIFEST and zst["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert zst["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert store.read(zst["layers"][0]["digest"])[:4] == b"\x28\xb5\x2f\xfd"
