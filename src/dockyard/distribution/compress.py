"""Compressing an image's layers for a push, as Docker and Podman do.

`load` of a docker-archive stores layers as the plain tars the archive holds; a registry is
sent them compressed: gzip unless `--compression-format zstd` asks otherwise. A layer already
compressed some other way is kept as it is unless `--force-compression`. The compressed blob
goes into the content store (so the ordinary push code sends, mounts and resumes it), and
which blob a layer became is remembered under `<root>/compressed/<format>-<level>/<hex>`, so
a second push names the same digests without compressing again and sends nothing the
registry holds. Should the compressed blob have been collected since, it is made again:
compression is deterministic (no timestamps, one thread), so it gets the same digest.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import CorruptContent, InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import hex_of, validate
from dockyard.oci.image import canonical_json
from dockyard.store.content import CHUNK, ContentStore

FORMATS = ("gzip", "zstd")
#: gzip levels as zlib and Podman count them (0-9), onto isal's four (0-3).
_GZIP_LEVELS = {0: 0, 1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2, 7: 3, 8: 3, 9: 3}


@dataclass(frozen=True)
class Compression:
    format: str = "gzip"
    level: int | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InvalidArgument(f"unsupported compression format {self.format!r}: use gzip or zstd")
        if self.level is None:
            return
        if self.format == "gzip" and self.level not in _GZIP_LEVELS:
            raise InvalidArgument(f"gzip compression level {self.level} is out of range: use 0 to 9")
        if self.format == "zstd" and not 1 <= self.level <= 22:
            raise InvalidArgument(f"zstd compression level {self.level} is out of range: use 1 to 22")

    @property
    def writer_level(self) -> int | None:
        """The level for layers.compression.open_writer (isal's scale for gzip)."""
        return _GZIP_LEVELS[self.level] if self.format == "gzip" and self.level is not None else self.level

    @property
    def key(self) -> str:
        return f"{self.format}-{'default' if self.level is None else self.level}"


def for_push(content: ContentStore, manifest_digest: str, compression: Compression) -> str:
    """The digest of the manifest to push for `manifest_digest`: itself when every layer is
    already as `compression` asks, else a manifest of compressed layers, stored in `content`."""
    raw = content.read(manifest_digest)
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise CorruptContent(f"manifest {manifest_digest} in the content store is not valid JSON") from None
    if manifest.get("mediaType") in mt.INDEXES or "manifests" in manifest:
        return _index_for_push(content, manifest_digest, manifest, compression)
    layers = manifest.get("layers") or []
    todo = [i for i, desc in enumerate(layers) if _needs(content, desc, compression)]
    if not todo:
        return manifest_digest
    memory = content.root / "compressed" / compression.key
    with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) as pool:
        done = list(pool.map(lambda i: _compressed(content, layers[i], compression, memory), todo))
    schema2 = manifest.get("mediaType") == mt.DOCKER_MANIFEST and compression.format == "gzip"  # stays Docker's
    new_layers = list(layers)
    for i, (digest, size) in zip(todo, done):
        media_type = mt.DOCKER_LAYER_GZIP if schema2 else (mt.OCI_LAYER_GZIP if compression.format == "gzip"
                                                             else mt.OCI_LAYER_ZSTD)
        new_layers[i] = {**layers[i], "mediaType": media_type, "digest": digest, "size": size}
    if not schema2:
        new_layers = [_oci_layer(d) for d in new_layers]
    out = {**manifest, "layers": new_layers}
    if manifest.get("mediaType") == mt.DOCKER_MANIFEST and not schema2:  # zstd has no schema2 type
        out["mediaType"] = mt.OCI_MANIFEST
        if out.get("config", {}).get("mediaType") == mt.DOCKER_CONFIG:
            out["config"] = {**out["config"], "mediaType": mt.OCI_CONFIG}
    return content.put(canonical_json(out))


DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"  # schema2's uncompressed layer


def docker_media_types(content: ContentStore, manifest_digest: str) -> str:
    """The digest of the same image with Docker's schema2 media types (what BuildKit writes
    without oci-mediatypes=true), stored in `content`; zstd layers have no schema2 type, so
    such an image stays OCI."""
    manifest = json.loads(content.read(manifest_digest))
    if manifest.get("mediaType") == mt.DOCKER_MANIFEST or "manifests" in manifest:
        return manifest_digest
    kinds = {"": DOCKER_LAYER, "gzip": mt.DOCKER_LAYER_GZIP}
    layers = []
    for desc in manifest.get("layers") or []:
        kind = mt.compression_of(desc.get("mediaType", ""))
        if desc.get("mediaType") != mt.DOCKER_LAYER_FOREIGN and kind not in kinds:
            return manifest_digest
        layers.append(desc if desc.get("mediaType") == mt.DOCKER_LAYER_FOREIGN else {**desc, "mediaType": kinds[kind]})
    out = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
           "config": {**manifest["config"], "mediaType": mt.DOCKER_CONFIG}, "layers": layers}
    return content.put(canonical_json(out))


def _index_for_push(content: ContentStore, digest: str, index: dict, compression: Compression) -> str:
    """An index whose children held here are replaced by their compressed forms, if any changed."""
    children, changed = [], False
    for child in index.get("manifests") or []:
        if isinstance(child, dict) and content.exists(child.get("digest", "")):
            new = for_push(content, child["digest"], compression)
            if new != child["digest"]:
                data = content.read(new)
                media_type = json.loads(data).get("mediaType") or child.get("mediaType")
                child = {**child, "mediaType": media_type, "digest": new, "size": len(data)}
                changed = True
        children.append(child)
    return content.put(canonical_json({**index, "manifests": children})) if changed else digest


def _oci_layer(desc: dict) -> dict:
    """A layer descriptor with the OCI media type of its compression (for a manifest turned OCI)."""
    kinds = {"": mt.OCI_LAYER, "gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD}
    if desc.get("mediaType") == mt.DOCKER_LAYER_FOREIGN:
        return desc
    return {**desc, "mediaType": kinds[mt.compression_of(desc.get("mediaType", ""))]}


def _stored_compression(content: ContentStore, digest: str) -> str:
    from dockyard.layers.compression import detect

    with content.open(digest) as f:
        return detect(f.read(8))


def _needs(content: ContentStore, desc: dict, compression: Compression) -> bool:
    if desc.get("urls") or desc.get("mediaType") == mt.DOCKER_LAYER_FOREIGN:
        return False
    kind = _stored_compression(content, desc["digest"])
    return not kind or (compression.force and kind != compression.format)


def _compressed(content: ContentStore, desc: dict, compression: Compression, memory: Path) -> tuple[str, int]:
    """(digest, size) of `desc`'s layer compressed as asked: remembered, or made now."""
    note = memory / hex_of(desc["digest"])
    try:
        digest_text, size_text = note.read_text().split()
        if content.exists(validate(digest_text)):
            return digest_text, int(size_text)
    except (FileNotFoundError, ValueError, InvalidArgument):
        pass
    from dockyard.layers.compression import open_reader, open_writer

    with content.open(desc["digest"]) as src, content.ingest(f"layer {desc['digest']} compressed") as ing:
        reader = open_reader(src)  # plain tar, or the other compression when forced
        writer = open_writer(ing, compression.format, compression.writer_level)
        while chunk := reader.read(CHUNK):
            writer.write(chunk)
        writer.close()
        digest = ing.commit()
        size = ing.size
    memory.mkdir(parents=True, exist_ok=True)
    tmp = note.with_name(f".{note.name}.{os.getpid()}")
    tmp.write_text(f"{digest} {size}\n")
    os.replace(tmp, note)
    return digest, size
