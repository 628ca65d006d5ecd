"""Writing new images into the content store: a layer blob from a tar producer, then config and manifest.

Bootstrap, import, commit and build all end the same way, so they share this path and
produce images that only differ where their content does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Callable

from dockyard.oci import mediatypes as mt
from dockyard.oci.image import canonical_json, descriptor, new_manifest, order_config
from dockyard.store.content import ContentStore


@dataclass
class LayerBlob:
    digest: str        # of the compressed blob
    size: int          # compressed bytes
    diff_id: str       # of the uncompressed tar
    media_type: str

    @property
    def descriptor(self) -> dict:
        return descriptor(self.media_type, self.digest, self.size)


def write_layer(content: ContentStore, produce: Callable[[BinaryIO], object], compression: str = "gzip") -> LayerBlob:
    """Run `produce(stream)` (which writes an uncompressed tar and returns stats with `diff_id`)
    into a compressed, verified blob."""
    from dockyard.layers.compression import open_writer

    with content.ingest("the new layer") as ing:
        writer = open_writer(ing, compression)
        stats = produce(writer)
        writer.close()
        digest = ing.commit()
        size = ing.size
    media_type = {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD, "": mt.OCI_LAYER}[compression]
    return LayerBlob(digest, size, stats.diff_id, media_type)


def config_json(config: dict) -> bytes:
    """The bytes an image config is stored as: their digest is the image's ID."""
    return canonical_json(order_config(config))


def write_image(content: ContentStore, config: dict, layers: list[dict]) -> str:
    """Store config and manifest; returns the manifest digest for `ImageService.add_image`."""
    raw_cfg = config_json(config)
    cfg_digest = content.put(raw_cfg)
    man = new_manifest(descriptor(mt.OCI_CONFIG, cfg_digest, len(raw_cfg)), layers)
    return content.put(canonical_json(man))
