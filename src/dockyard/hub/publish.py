"""Put a built image into the hub's registry: from the build engine's content store straight into storage.

A build publishes through the storage API rather than `dockyard push` over HTTP so that it
needs no account on a hub that requires one, no loopback round trip and no `dockyard save`
archive in between. What lands is what a push would have sent: an OCI manifest whose
uncompressed layers are gzip-compressed on the way (the config's diff_ids stay those of the
uncompressed tars, so the image ID does not change); compressed layers are copied as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.errors import NotFound
from dockyard.layers.compression import GZIP, NONE, open_writer
from dockyard.oci import mediatypes as mt
from dockyard.oci.image import canonical_json, descriptor, new_manifest
from dockyard.registry import manifests
from dockyard.registry.storage import RegistryStorage
from dockyard.store.content import ContentStore

CHUNK = 1 << 20


def _copy(storage: RegistryStorage, repo: str, src, compress: bool) -> tuple[str, int]:
    with storage.blobs.ingest() as ingest:
        out = open_writer(ingest, GZIP if compress else NONE)
        while chunk := src.read(CHUNK):
            out.write(chunk)
        out.close()
        return storage.commit_ingest(repo, ingest, ingest.digest), ingest.size


def publish(storage: RegistryStorage, content: ContentStore, manifest_digest: str, repo: str, tags: list[str]) -> str:
    """Store the image whose manifest and blobs are in `content` (the build engine's content
    store) in `repo` under every tag; returns the manifest digest in the registry."""
    saved = json.loads(content.read(manifest_digest))
    with content.open(saved["config"]["digest"]) as src:
        config_digest, config_size = _copy(storage, repo, src, compress=False)
    layers = []
    for layer in saved.get("layers") or []:
        compression = mt.compression_of(layer["mediaType"])
        with content.open(layer["digest"]) as src:
            digest, size = _copy(storage, repo, src, compress=not compression)
        layers.append(descriptor(mt.OCI_LAYER_ZSTD if compression == "zstd" else mt.OCI_LAYER_GZIP, digest, size))
    data = canonical_json(new_manifest(descriptor(mt.OCI_CONFIG, config_digest, config_size), layers))
    parsed = manifests.parse(data, mt.OCI_MANIFEST)
    digest = ""
    for tag in tags:
        digest = storage.put_manifest(repo, data, parsed, tag)
    return digest


def publish_built(storage: RegistryStorage, engine_root: Path, image_id: str, repo: str, tags: list[str]) -> str:
    """Publish image `image_id` of the build engine at `engine_root`; returns the manifest digest."""
    from dockyard.hub.builds.engine import manifest_digest

    digest = manifest_digest(engine_root, image_id)
    if digest is None:
        raise NotFound(f"the build engine has no image {image_id}")
    return publish(storage, ContentStore(engine_root), digest, repo, tags)
