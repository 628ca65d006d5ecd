"""`save` and `load`: docker-archive (what `docker save` writes) and OCI image layout tars.

dockyard's docker-archive is the layout Docker 25+ writes: an OCI image layout (oci-layout,
index.json, blobs/sha256/...) that also carries manifest.json and repositories, so it loads
into old and new Docker, podman and skopeo alike. `load` also reads the classic layout
(<id>/layer.tar, <hex>.json) of older Docker. Blobs are verified as they are read, and the
image is recorded only once everything is in the store, so a bad or interrupted archive
leaves nothing listed.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

from dockyard.errors import CorruptContent, InvalidArgument
from dockyard.images.model import Image
from dockyard.images.service import ImageService
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Hasher, validate
from dockyard.oci.image import canonical_json, chain_id, descriptor, loads_document, new_manifest
from dockyard.oci.reference import Reference, parse, parse_normalized

MAX_METADATA = 16 << 20
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


# -- load ------------------------------------------------------------------------------------
@dataclass
class _Archive:
    """What the outer tar held: blobs went to the content store, small documents stay here."""

    by_name: dict[str, str] = field(default_factory=dict)      # member name -> blob digest
    documents: dict[str, bytes] = field(default_factory=dict)  # manifest.json, index.json, ...
    links: dict[str, str] = field(default_factory=dict)        # symlinked member -> target member


def _clean_member(name: str) -> str:
    norm = posixpath.normpath(name.lstrip("/"))
    if norm == ".." or norm.startswith("../"):
        raise CorruptContent(f"archive member {name!r} points outside the archive")
    return "" if norm == "." else norm


def _read_archive(images: ImageService, stream: BinaryIO) -> _Archive:
    from dockyard.layers.compression import open_reader

    arc = _Archive()
    try:
        with tarfile.open(fileobj=open_reader(stream), mode="r|") as tar:
            for m in tar:
                name = _clean_member(m.name)
                if not name:
                    continue
                if m.issym() or m.islnk():
                    target = m.linkname if m.islnk() else posixpath.join(posixpath.dirname(name), m.linkname)
                    arc.links[name] = _clean_member(target)
                    continue
                if not m.isfile():
                    continue
                f = tar.extractfile(m)
                if name in ("manifest.json", "index.json", "oci-layout", "repositories"):
                    if m.size > MAX_METADATA:
                        raise CorruptContent(f"{name} in the archive is {m.size} bytes; that is not a real {name}")
                    arc.documents[name] = f.read()
                    continue
                expected = None
                parts = name.split("/")
                if len(parts) == 3 and parts[0] == "blobs":
                    expected = validate(f"{parts[1]}:{parts[2]}")
                arc.by_name[name] = images.content.put_stream(f, expected, m.size, what=f"{name} in the archive")
    except tarfile.TarError as e:
        raise CorruptContent(f"the archive is not a valid tar file: {e}") from None
    except EOFError:
        raise CorruptContent("the archive is truncated: unexpected end of data") from None
    return arc


def _blob_for(arc: _Archive, name: str, what: str) -> str:
    if not isinstance(name, str):
        raise CorruptContent(f"invalid manifest.json in archive: {what} must be a file name")
    name = _clean_member(name)
    seen = set()
    while name in arc.links and name not in seen:
        seen.add(name)
        name = arc.links[name]
    if name not in arc.by_name:
        raise CorruptContent(f"invalid manifest.json in archive: {what} {name!r} is not in the archive")
    return arc.by_name[name]


def _layer_media_type(images: ImageService, digest: str) -> str:
    from dockyard.layers.compression import detect

    with images.content.open(digest) as f:
        kind = detect(f.read(8))
    return {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD, "": mt.OCI_LAYER}.get(kind) or _bad_layer(digest, kind)


def _bad_layer(digest: str, kind: str) -> str:
    raise CorruptContent(f"layer {digest} is {kind}-compressed; image layers must be tar, gzip or zstd")


def _tag_refs(tags: object, where: str) -> list[Reference]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise CorruptContent(f"invalid {where} in archive: RepoTags must be a list of names")
    try:
        return [parse_normalized(t) for t in tags]
    except InvalidArgument as e:
        raise CorruptContent(f"invalid {where} in archive: {e.message}") from None


def _load_docker(images: ImageService, arc: _Archive) -> list[tuple[Image, list[Reference]]]:
    try:
        entries = json.loads(arc.documents["manifest.json"])
    except ValueError as e:
        raise CorruptContent(f"invalid manifest.json in archive: {e}") from None
    if not isinstance(entries, list) or not entries:
        raise CorruptContent("invalid manifest.json in archive: expected a non-empty list of images")
    plans = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("Layers"), list):
            raise CorruptContent(f"invalid manifest.json in archive: entry {i} lacks Config or Layers")
        cfg_digest = _blob_for(arc, entry.get("Config"), "Config")
        cfg_raw = images.content.read(cfg_digest)
        loads_document(cfg_raw, f"image config {entry.get('Config')}")
        layers = []
        for name in entry["Layers"]:
            d = _blob_for(arc, name, "layer")
            layers.append(descriptor(_layer_media_type(images, d), d, images.content.size(d)))
        tags = _tag_refs(entry.get("RepoTags"), "manifest.json")
        man = new_manifest(descriptor(mt.OCI_CONFIG, cfg_digest, len(cfg_raw)), layers)
        plans.append((images.content.put(canonical_json(man)), tags))
    return [(images.add_image(md, tags), tags) for md, tags in plans]


def _index_images(images: ImageService, index: dict) -> Iterable[tuple[str, list[Reference], str | None, bool]]:
    """(manifest digest, its tags, the multi-platform index it is in or None, whether it is the
    one listed) of each image to load: every platform of a nested index that the archive holds,
    the host's (or else the first one held) tagged and listed, the others beneath it."""
    from dockyard.oci.platform import host_platform, of_document

    for desc in index.get("manifests") or []:
        if not isinstance(desc, dict) or "digest" not in desc:
            raise CorruptContent("invalid index.json in archive: a manifest entry lacks its digest")
        ann = desc.get("annotations") or {}
        tags = []
        name = ann.get(NAME_ANNOTATION) or ann.get(REF_ANNOTATION) or ""
        if name and (":" in name or "/" in name):
            try:
                tags = [parse_normalized(name)]
            except InvalidArgument:
                tags = []
        if desc.get("mediaType") in mt.INDEXES:
            child = loads_document(images.content.read(desc["digest"]), "nested index")
            held = [cd for cd in child.get("manifests") or [] if images.content.exists(cd.get("digest", ""))
                    and cd.get("mediaType", mt.OCI_MANIFEST) in mt.MANIFESTS]
            if not held:
                raise CorruptContent(f"index {desc['digest']} in the archive holds none of its images")
            default = next((cd for cd in held if of_document(cd.get("platform") or {}) == host_platform()), held[0])
            for cd in held:
                yield cd["digest"], tags if cd is default else [], desc["digest"], cd is default
        else:
            yield desc["digest"], tags, None, True


def _load_oci(images: ImageService, arc: _Archive) -> list[tuple[Image, list[Reference]]]:
    index = loads_document(arc.documents["index.json"], "index.json")
    from dockyard.images.indexes import record

    out = []
    for digest, tags, multi, listed in list(_index_images(images, index)):
        if not images.content.exists(digest):
            raise CorruptContent(f"index.json names manifest {digest}, which is not in the archive")
        image = images.add_image(digest, tags)
        if multi is not None and tags:
            record(images, tags, multi)
        if listed:
            out.append((image, tags))
    if not out:
        raise CorruptContent("index.json in the archive lists no images")
    return out


def load(images: ImageService, stream: BinaryIO) -> list[str]:
    """Load every image of a docker-archive or OCI layout tar; returns docker's output lines."""
    with images.adding():
        arc = _read_archive(images, stream)
        if "manifest.json" in arc.documents:
            loaded = _load_docker(images, arc)
        elif "index.json" in arc.documents:
            loaded = _load_oci(images, arc)
        else:
            raise CorruptContent("not a docker-archive or OCI layout: the tar holds no manifest.json or index.json")
    lines = []
    for img, tags in loaded:
        images.events.emit("image", "load", img.id, name=img.id)
        if tags:
            lines.extend(f"Loaded image: {t.familiar}" for t in tags)
        else:
            lines.append(f"Loaded image ID: {img.id}")
    return lines


# -- save ------------------------------------------------------------------------------------
class _VerifyingReader(io.RawIOBase):
    """Passes bytes through while hashing them, and fails at the end if they are not `expected`."""

    def __init__(self, inner: BinaryIO, expected: str) -> None:
        self._inner, self._expected, self._h = inner, expected, Hasher()

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._inner.readinto(buf)
        if n:
            self._h.update(bytes(buf[:n]))
        elif self._h.digest != self._expected:
            raise CorruptContent(f"layer {self._expected} in the store is corrupt (got {self._h.digest}); run `dockyard system check`")
        return n


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, *, size: int = 0, stream: BinaryIO | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    if data is None and stream is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        return
    info.mode = 0o644
    info.size = len(data) if data is not None else size
    tar.addfile(info, io.BytesIO(data) if data is not None else stream)


@dataclass
class _SaveItem:
    image: Image
    tags: list[Reference]
    manifest: str = ""  # another manifest of the image to write (OCI layout only)


def _resolve_items(images: ImageService, names: list[str]) -> list[_SaveItem]:
    items: dict[str, _SaveItem] = {}
    for name in names:
        img = images.get(name)
        item = items.setdefault(img.id, _SaveItem(img, []))
        ref = None
        try:
            ref = parse(name)
        except InvalidArgument:
            pass
        if ref is not None and not ref.digest and any(t.startswith(ref.repository + ":") for t in img.tags):
            if ref.tag:
                item.tags.append(ref)
            else:
                item.tags.extend(parse(t) for t in img.tags if t.startswith(ref.repository + ":"))
    return list(items.values())


def _write_docker(images: ImageService, items: list[_SaveItem], tar: tarfile.TarFile) -> None:
    _add(tar, "blobs")
    _add(tar, "blobs/sha256")
    written: set[str] = set()
    manifest_json, index_entries, repositories = [], [], {}
    for item in items:
        img = item.image
        cfg_raw = images.content.read(img.id)
        cfg = images.config(img)
        man = images.manifest(img)
        if img.id not in written:
            _add(tar, "blobs/sha256/" + img.id[7:], cfg_raw)
            written.add(img.id)
        layer_names, oci_layers, parent = [], [], ""
        for desc, diff_id in zip(man["layers"], cfg["rootfs"]["diff_ids"]):
            parent = chain_id(parent, diff_id)
            size = images.snapshots.need(parent).tar_bytes
            name = "blobs/sha256/" + diff_id[7:]
            if diff_id not in written:
                from dockyard.layers.compression import open_reader

                with images.content.open(desc["digest"]) as f:
                    _add(tar, name, size=size, stream=io.BufferedReader(_VerifyingReader(open_reader(f), diff_id)))
                written.add(diff_id)
            layer_names.append(name)
            oci_layers.append(descriptor(mt.OCI_LAYER, diff_id, size))
        oci_man = canonical_json(new_manifest(descriptor(mt.OCI_CONFIG, img.id, len(cfg_raw)), oci_layers))
        from dockyard.oci.digest import sha256_digest

        man_digest = sha256_digest(oci_man)
        if man_digest not in written:
            _add(tar, "blobs/sha256/" + man_digest[7:], oci_man)
            written.add(man_digest)
        for ref in item.tags or [None]:
            ann = {NAME_ANNOTATION: str(ref), REF_ANNOTATION: ref.tag} if ref else {}
            index_entries.append(descriptor(mt.OCI_MANIFEST, man_digest, len(oci_man), annotations=ann))
        manifest_json.append({"Config": "blobs/sha256/" + img.id[7:], "RepoTags": [t.familiar for t in item.tags] or None,
                              "Layers": layer_names})
        for ref in item.tags:
            if layer_names:
                repositories.setdefault(ref.familiar_repository, {})[ref.tag] = layer_names[-1].rsplit("/", 1)[1]
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": index_entries}
    _add(tar, "index.json", json.dumps(index, separators=(",", ":")).encode())
    _add(tar, "manifest.json", json.dumps(manifest_json, separators=(",", ":")).encode())
    _add(tar, "oci-layout", OCI_LAYOUT)
    if repositories:
        _add(tar, "repositories", json.dumps(repositories, separators=(",", ":")).encode())


def _write_oci(images: ImageService, items: list[_SaveItem], tar: tarfile.TarFile) -> None:
    """The stored manifest and blobs exactly as they are (sha512 ones under blobs/sha512/), so
    digests survive the round trip; a multi-platform tag's index whole."""
    from dockyard.images.indexes import children, complete_index

    _add(tar, "blobs")
    _add(tar, "blobs/sha256")
    written: set[str] = {"blobs/sha256"}

    def add_blob(digest: str, data: bytes | None = None) -> None:
        directory, name = posixpath.split("blobs/" + digest.replace(":", "/", 1))
        if directory not in written:
            _add(tar, directory)
            written.add(directory)
        if digest in written:
            return
        if data is not None:
            _add(tar, f"{directory}/{name}", data)
        else:
            with images.content.open(digest) as f:
                _add(tar, f"{directory}/{name}", size=images.content.size(digest), stream=f)
        written.add(digest)

    def add_image(digest: str) -> bytes:
        raw = images.content.read(digest)
        man = json.loads(raw)
        for desc in [man["config"], *man["layers"]]:
            add_blob(desc["digest"])
        add_blob(digest, raw)
        return raw

    index_entries = []
    for item in items:
        digest = item.manifest or item.image.manifest_digest
        raw = add_image(digest)
        for ref in item.tags or [None]:
            ann = {NAME_ANNOTATION: str(ref), REF_ANNOTATION: ref.tag} if ref else {}
            multi = complete_index(images, str(ref)) if ref and not item.manifest else None
            if multi is None:
                media_type = (json.loads(raw).get("mediaType") or mt.OCI_MANIFEST) if item.manifest \
                    else item.image.manifest_media_type
                index_entries.append(descriptor(media_type, digest, len(raw), annotations=ann))
                continue
            for child in children(images, multi):  # a multi-platform image: its index whole
                add_image(child.image.manifest_digest)
            index_raw = images.content.read(multi)
            add_blob(multi, index_raw)
            index_entries.append(descriptor(mt.OCI_INDEX, multi, len(index_raw), annotations=ann))
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": index_entries}
    _add(tar, "index.json", json.dumps(index, separators=(",", ":")).encode())
    _add(tar, "oci-layout", OCI_LAYOUT)


def save(images: ImageService, names: list[str], out: BinaryIO, *, fmt: str = "docker") -> None:
    """Write the named images as one tar; `fmt` is `docker` (docker-archive) or `oci` (OCI layout)."""
    if fmt not in ("docker", "oci"):
        raise InvalidArgument(f"unknown save format {fmt!r}: use docker or oci")
    items = _resolve_items(images, names)
    _write(images, items, out, fmt)
    for item in items:
        images.events.emit("image", "save", item.image.id, name=item.image.id)


def _write(images: ImageService, items: list[_SaveItem], out: BinaryIO, fmt: str) -> None:
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as tar:
        (_write_docker if fmt == "docker" else _write_oci)(images, items, tar)


def save_built(images: ImageService, image: Image, names: list[str], out: BinaryIO, *, fmt: str = "docker",
               manifest: str = "") -> None:
    """One image as `save` writes it, under `names` whether or not they are its tags here (a
    build's exporter); `manifest` (OCI layout only) replaces its stored manifest."""
    _write(images, [_SaveItem(image, [parse_normalized(n) for n in names], manifest)], out, fmt)


def save_to_path(images: ImageService, names: list[str], path: str | os.PathLike, *, fmt: str = "docker") -> None:
    """Save to a file through a temporary name, so a failed save never leaves a partial archive."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            save(images, names, f, fmt=fmt)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
