"""Put a built image into the hub's registry: from `dockyard save --format oci` output straight into storage.

A build publishes through the storage API rather than `dockyard push` over HTTP so that it
needs no account on a hub that requires one, and no loopback round trip. What lands is what
a push would have sent: layers saved uncompressed are gzip-compressed on the way (the
config's diff_ids stay those of the uncompressed tars, so the image ID does not change).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from dockyard.errors import CorruptContent
from dockyard.layers.compression import GZIP, NONE, open_writer
from dockyard.oci import mediatypes as mt
from dockyard.oci.image import canonical_json, descriptor, new_manifest
from dockyard.registry import manifests
from dockyard.registry.storage import RegistryStorage

CHUNK = 1 << 20


class _Layout:
    """Read access to the blobs of an OCI layout tar."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}

    def open(self, name: str):
        member = self.members.get(name)
        if member is None:
            raise CorruptContent(f"saved image has no {name}")
        return self.tar.extractfile(member)

    def blob(self, digest: str):
        return self.open("blobs/" + digest.replace(":", "/"))


def _copy(storage: RegistryStorage, repo: str, src, compress: bool) -> tuple[str, int]:
    with storage.blobs.ingest() as ingest:
        out = open_writer(ingest, GZIP if compress else NONE)
        while chunk := src.read(CHUNK):
            out.write(chunk)
        out.close()
        return storage.commit_ingest(repo, ingest, ingest.digest), ingest.size


def publish(storage: RegistryStorage, archive: Path, repo: str, tags: list[str]) -> str:
    """Store the single image in `archive` in `repo` under every tag; returns the manifest digest."""
    with tarfile.open(archive) as tar:
        layout = _Layout(tar)
        index = json.load(layout.open("index.json"))
        found = index.get("manifests") or []
        if len(found) != 1:
            raise CorruptContent(f"expected one image in the saved archive, found {len(found)}")
        saved = json.load(layout.blob(found[0]["digest"]))
        config = saved["config"]
        config_digest, config_size = _copy(storage, repo, layout.blob(config["digest"]), compress=False)
        layers = []
        for layer in saved.get("layers") or []:
            compress = layer["mediaType"] == mt.OCI_LAYER
            digest, size = _copy(storage, repo, layout.blob(layer["digest"]), compress)
            layers.append(descriptor(mt.OCI_LAYER_GZIP if compress else layer["mediaType"], digest, size))
    data = canonical_json(new_manifest(descriptor(config["mediaType"], config_digest, config_size), layers))
    parsed = manifests.parse(data, mt.OCI_MANIFEST)
    digest = ""
    for tag in tags:
        digest = storage.put_manifest(repo, data, parsed, tag)
    return digest
