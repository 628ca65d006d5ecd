"""Multi-platform images: a tag that names an image index, with the platforms present beneath it.

A pull of a multi-platform tag keeps the index itself (its bytes, in the content store) and
records `tag -> index digest` here; every platform pulled under it is an ordinary image, and
the tag's own row in `tags` names the platform pulled last, which is what `run` uses by
default, as Docker's classic image store does. `run --platform` and `image inspect` look
through the index: an entry is *available* when its image is in the store.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterable

from dockyard.errors import CorruptContent, InvalidArgument, NotFound
from dockyard.oci import mediatypes
from dockyard.oci.platform import Platform, of_document, parse_platform, select_manifest
from dockyard.oci.reference import Reference, parse_normalized
from dockyard.plainclass import plainclass

if TYPE_CHECKING:
    from dockyard.images.model import Image
    from dockyard.images.service import ImageService

INDEX_MIGRATIONS = [
    """
    CREATE TABLE index_tags (
        name TEXT PRIMARY KEY,            -- fully qualified tag
        digest TEXT NOT NULL              -- the image index (or manifest list) it names
    );
    CREATE INDEX index_tags_digest ON index_tags(digest);
    """,
]


@plainclass
class Child:
    """One entry of an index: its descriptor, and the local image when present."""

    descriptor: dict
    image: "Image | None"

    @property
    def attestation(self) -> bool:
        """BuildKit's provenance/SBOM manifests: `unknown/unknown` with a reference-type annotation."""
        return "vnd.docker.reference.type" in (self.descriptor.get("annotations") or {})


def record(images: "ImageService", tags: Iterable[Reference], digest: str | None) -> None:
    """Point `tags` at the index `digest` (whose bytes are in the content store); None: at no index."""
    with images.db.write() as c:
        for ref in tags:
            if digest is None:
                c.execute("DELETE FROM index_tags WHERE name=?", (str(ref),))
            else:
                c.execute("INSERT OR REPLACE INTO index_tags(name, digest) VALUES (?,?)", (str(ref), digest))


def index_digest(images: "ImageService", name: str) -> str | None:
    """The index a tag names, None when `name` is no tag of an index."""
    try:
        ref = parse_normalized(name)
    except InvalidArgument:  # an ID names no index
        return None
    if ref.digest:
        row = images.db.one("SELECT digest FROM index_tags WHERE digest=?", (ref.digest,))
    else:
        row = images.db.one("SELECT digest FROM index_tags WHERE name=?", (str(ref),))
    return row[0] if row else None


def document(images: "ImageService", digest: str) -> dict:
    try:
        doc = json.loads(images.content.read(digest))
    except ValueError:
        raise CorruptContent(f"image index {digest} in the content store is not valid JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
        raise CorruptContent(f"image index {digest} has no manifests")
    return doc


def children(images: "ImageService", digest: str) -> list[Child]:
    out = []
    for entry in document(images, digest)["manifests"]:
        row = images.db.one("SELECT id FROM images WHERE manifest_digest=?", (entry.get("digest", ""),))
        out.append(Child(entry, images.find(row[0]) if row else None))
    return out


def for_platform(images: "ImageService", name: str, wanted: Platform) -> "Image":
    """The image `name` names for `wanted`, in dockerd's words when it has none (NotFound, so
    that clients pull it)."""
    image = images.get(name)
    config = images.config(image)
    if of_document(config).matches(wanted):
        return image
    digest = index_digest(images, name)
    if digest is not None:
        try:
            entry = select_manifest(document(images, digest), wanted)
        except NotFound:
            entry = None
        if entry is not None:
            row = images.db.one("SELECT id FROM images WHERE manifest_digest=?", (entry["digest"],))
            if row:
                return images.get(row[0])
    # dockerd's words: the wanted platform in containerd's normal form (arm64 without its v8),
    # the image's as its config writes it
    asked = str(wanted).removesuffix("/v8") if wanted.architecture == "arm64" else str(wanted)
    actual = "/".join(p for p in (config.get("os"), config.get("architecture"), config.get("variant")) if p)
    raise NotFound(f"image with reference {name} was found but does not match the specified platform: "
                   f"wanted {asked}, actual: {actual}")


def find_for_platform(images: "ImageService", name: str, platform: str | None) -> "Image | None":
    """The local image `name` names for `platform` (None: whichever it names), None when absent."""
    image = images.find(name)
    if image is None or not platform:
        return image
    try:
        return for_platform(images, name, parse_platform(platform))
    except NotFound:
        return None


def create_index(images: "ImageService", built: list["Image"], tags: Iterable[Reference], default: "Image") -> str:
    """An OCI index of `built` (one image per platform) in the content store, `tags` naming it
    and, in `tags` of their own, `default` (the platform `run` uses); returns its digest."""
    manifests = [{"mediaType": img.manifest_media_type, "digest": img.manifest_digest,
                  "size": images.content.size(img.manifest_digest),
                  "platform": of_document(images.config(img)).as_dict()} for img in built]
    data = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": manifests},
                      separators=(",", ":")).encode()
    tags = list(tags)
    with images.adding():
        digest = images.content.put(data)
        with images.db.write() as c:
            for ref in tags:
                c.execute("INSERT OR REPLACE INTO tags(name, image_id) VALUES (?,?)", (str(ref), default.id))
                c.execute("INSERT OR REPLACE INTO index_tags(name, digest) VALUES (?,?)", (str(ref), digest))
    return digest


def complete_index(images: "ImageService", name: str) -> str | None:
    """The index to push for tag `name`: the one it names when every platform of it is here."""
    digest = index_digest(images, name)
    if digest is None or not all(images.content.exists(e.get("digest", "")) for e in document(images, digest)["manifests"]):
        return None
    return digest
