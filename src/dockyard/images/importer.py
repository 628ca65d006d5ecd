"""`import`: a filesystem tarball (file, URL or stdin, compressed or not) becomes a one-layer image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from dockyard.errors import CorruptContent, DockyardError, InvalidArgument, NotFound
from dockyard.images.compose import write_image, write_layer
from dockyard.oci.digest import Hasher
from dockyard.oci.image import new_config, now_rfc3339
from dockyard.store.content import ContentStore


@dataclass
class _Stats:
    diff_id: str
    size: int


def _copy_hashing(src: BinaryIO, out: BinaryIO) -> _Stats:
    from dockyard.layers.compression import open_reader

    h = Hasher()
    reader = open_reader(src)
    try:
        while chunk := reader.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
    except EOFError:
        raise CorruptContent("the imported archive is truncated") from None
    if h.size == 0:
        raise CorruptContent("the imported archive is empty: give a tar file of a root filesystem")
    return _Stats(h.digest, h.size)


def import_tarball(
    content: ContentStore,
    src: BinaryIO,
    *,
    container_config: dict | None = None,
    message: str = "",
    source_name: str = "-",
) -> str:
    """Store the tarball as one gzip layer with a fresh config; returns the manifest digest.
    The tar's safety (no escaping paths) is checked when the layer is unpacked."""
    layer = write_layer(content, lambda out: _copy_hashing(src, out))
    created = now_rfc3339()
    history = [{"created": created, "comment": message or f"Imported from {source_name}"}]
    cfg = new_config([layer.diff_id], container_config=container_config or {}, history=history, created=created)
    return write_image(content, cfg, [layer.descriptor])


def open_source(source: str) -> tuple[BinaryIO, str]:
    """A readable stream for a file path, `-` (stdin) or an http(s) URL."""
    import sys

    if source == "-":
        return sys.stdin.buffer, "-"
    if source.startswith(("http://", "https://")):
        import urllib.request

        try:
            return urllib.request.urlopen(source, timeout=60), source  # noqa: S310 - user asked for this URL
        except OSError as e:
            raise DockyardError(f"cannot download {source}: {e}") from None
    try:
        return open(source, "rb"), source
    except FileNotFoundError:
        raise NotFound(f"open {source}: no such file or directory") from None
    except IsADirectoryError:
        raise InvalidArgument(f"{source} is a directory: import takes a tar file") from None


def import_image(images, stream: BinaryIO, *, ref=None, container_config: dict | None = None, message: str = "",
                 source_name: str = "-"):
    """`import`: the tarball as a one-layer image in `images` (an ImageService), tagged `ref`
    when given, with the event docker logs. Returns the image."""
    with images.adding():
        digest = import_tarball(images.content, stream, container_config=container_config, message=message,
                                source_name=source_name)
        img = images.add_image(digest, [ref] if ref else [])
    images.events.emit("image", "import", img.id, name=img.id)
    return img
