"""Pull and push against Debian's reference registry (distribution 2.x) on a loopback port."""

from __future__ import annotations

import json
import re

import pytest
from tests.integration.distribution.distribution_support import build_image, free_port

from dockyard.distribution.pull import pull, resolve
from dockyard.distribution.push import push
from dockyard.distribution.search import search
from dockyard.distribution.client import RegistryUnreachable
from dockyard.errors import DockyardError, NotFound
from dockyard.oci import mediatypes
from dockyard.oci.digest import sha256_digest
from dockyard.oci.reference import parse_normalized
from dockyard.store.content import ContentStore


def test_push_then_pull_gives_identical_blobs(registry, store, image, tmp_path):
    ref = parse_normalized(f"{registry.host}/team/app:v1")
    result = push(ref, store, image.manifest_digest)
    assert result.digest == image.manifest_digest
    assert result.bytes_sent == sum(store.size(d) for d in [image.config_digest, *image.layer_digests])

    other = ContentStore(tmp_path / "other")
    pulled = pull(ref, other)
    assert pulled.manifest_digest == image.manifest_digest
    assert pulled.manifest_media_type == mediatypes.OCI_MANIFEST
    assert pulled.config_digest == image.config_digest
    assert [d["digest"] for d in pulled.layers] == image.layer_digests
    assert pulled.layers[0]["mediaType"] == mediatypes.OCI_LAYER_GZIP
    assert pulled.index_digest is None
    for digest in [image.manifest_digest, image.config_digest, *image.layer_digests]:
        assert other.verify(digest)
    assert not any((other.root / "ingest-partial").iterdir())

    assert resolve(ref) == (image.manifest_digest, mediatypes.OCI_MANIFEST, store.size(image.manifest_digest))
    by_digest = pull(parse_normalized(f"{registry.host}/team/app@{image.manifest_digest}"), ContentStore(tmp_path / "third"))
    assert by_digest.manifest_digest == image.manifest_digest


def test_second_push_sends_no_blob_bytes(registry, proxy, store, image):
    ref = parse_normalized(f"127.0.0.1:{proxy.port}/app:latest")
    first = push(ref, store, image.manifest_digest)
    first_wire = proxy.sent
    assert first.bytes_sent > 600_000 and first_wire > 600_000

    second = push(ref, store, image.manifest_digest)
    assert second.bytes_sent == 0
    assert proxy.sent - first_wire < 10_000  # HEADs and the manifest PUT only


def test_cross_repository_mount_sends_no_layer_bytes(registry, proxy, store, image, tmp_path):
    push(parse_normalized(f"127.0.0.1:{proxy.port}/a:1"), store, image.manifest_digest)
    before = proxy.sent
    ref_b = parse_normalized(f"127.0.0.1:{proxy.port}/b:1")
    result = push(ref_b, store, image.manifest_digest, mount_from=["a", "elsewhere.example/a"])
    assert result.bytes_sent == 0
    assert proxy.sent - before < 10_000
    assert pull(ref_b, ContentStore(tmp_path / "other")).manifest_digest == image.manifest_digest


def test_chunked_upload_of_a_large_blob(registry, store, image, tmp_path):
    ref = parse_normalized(f"{registry.host}/chunked:1")
    result = push(ref, store, image.manifest_digest, chunk_size=64 * 1024)
    assert result.bytes_sent >= 600_000
    other = ContentStore(tmp_path / "other")
    pull(ref, other)
    assert other.verify(image.layer_digests[0])


def test_index_push_and_platform_selection(registry, store, tmp_path):
    amd = build_image(store, [{"arch": b"amd64"}], arch="amd64", docker=True)
    arm = build_image(store, [{"arch": b"arm64"}], arch="arm64", docker=True)
    index = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.DOCKER_MANIFEST_LIST, "manifests": [
        {"mediaType": mediatypes.DOCKER_MANIFEST, "digest": img.manifest_digest,
         "size": store.size(img.manifest_digest), "platform": {"os": "linux", "architecture": arch, **extra}}
        for img, arch, extra in [(amd, "amd64", {}), (arm, "arm64", {"variant": "v8"})]
    ]}).encode()
    index_digest = store.put(index)
    ref = parse_normalized(f"{registry.host}/multi:1")
    push(ref, store, index_digest)

    other = ContentStore(tmp_path / "other")
    pulled = pull(ref, other, platform="linux/arm64")
    assert pulled.index_digest == index_digest
    assert pulled.manifest_digest == arm.manifest_digest
    assert pulled.manifest_media_type == mediatypes.DOCKER_MANIFEST
    assert other.exists(index_digest) and not other.exists(amd.layer_digests[0])
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        pull(ref, other, platform="linux/s390x")


def test_missing_tag_is_a_clear_error(registry, store, image):
    push(parse_normalized(f"{registry.host}/app:1"), store, image.manifest_digest)
    with pytest.raises(NotFound) as e:
        pull(parse_normalized(f"{registry.host}/app:nope"), store)
    assert e.value.message == f"manifest for {registry.host}/app:nope not found: manifest unknown"


def test_unreachable_registry_is_a_clear_error(store):
    host = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryUnreachable) as e:
        pull(parse_normalized(f"{host}/app:1"), store)
    assert e.value.message == f"cannot reach registry {host}: connection refused; is it running?"


def test_search_without_v1_endpoint_is_a_clear_error(registry):
    with pytest.raises(DockyardError, match=re.escape(f"registry {registry.host} does not offer search")):
        search("app", registry.host)


def test_partial_digest_of_manifest_is_verified(registry, store, image):
    push(parse_normalized(f"{registry.host}/app:1"), store, image.manifest_digest)
    wrong = sha256_digest(b"not the manifest")
    with pytest.raises(DockyardError):
        pull(parse_normalized(f"{registry.host}/app@{wrong}"), store)
