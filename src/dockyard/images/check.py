"""`system check`: verify the image store against itself and say what is broken or left over.

Problems are things the store claims but cannot deliver (a blob whose bytes do not match its
digest, an image whose layer is missing); leftovers are things nothing claims (blobs and
layers no image uses, scratch files of killed processes). A store with leftovers is still
clean: they are what a crash is allowed to leave, and `--repair` (or prune) reclaims them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from dockyard.errors import CorruptContent, NotFound
from dockyard.images.service import ImageService
from dockyard.oci.image import chain_id, loads_document, validate_config, validate_manifest


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def check(images: ImageService, *, repair: bool = False) -> Report:
    rep = Report()
    with images.lock.exclusive():
        _check_blobs(images, rep, repair)
        _check_images(images, rep, repair)
        _check_snapshots(images, rep, repair)
        _leftovers(images, rep, repair)
    return rep


def _check_blobs(images: ImageService, rep: Report, repair: bool) -> None:
    n = 0
    for digest in list(images.content.digests()):
        n += 1
        if not images.content.verify(digest):
            if repair:
                images.content.delete(digest)
                rep.repaired.append(f"removed corrupt blob {digest}")
            else:
                rep.problems.append(f"blob {digest} does not match its digest (corrupt)")
    rep.checked["blobs"] = n


def _image_problem(images: ImageService, image_id: str, manifest_digest: str) -> str | None:
    try:
        man = validate_manifest(loads_document(images.content.read(manifest_digest), "manifest"))
        cfg = validate_config(loads_document(images.content.read(image_id), "image config"))
    except (NotFound, CorruptContent) as e:
        return e.message
    for d in man["layers"]:
        if not images.content.exists(d["digest"]):
            return f"layer blob {d['digest']} is missing"
    if len(man["layers"]) != len(cfg["rootfs"]["diff_ids"]):
        return "manifest and config disagree on the number of layers"
    return None


def _check_images(images: ImageService, rep: Report, repair: bool) -> None:
    rows = images.db.query("SELECT id, manifest_digest FROM images")
    rep.checked["images"] = len(rows)
    for image_id, manifest_digest in rows:
        problem = _image_problem(images, image_id, manifest_digest)
        if problem is None:
            _check_layers(images, image_id, rep, repair)
            continue
        if repair:
            with images.db.write() as c:
                c.execute("DELETE FROM tags WHERE image_id=?", (image_id,))
                c.execute("DELETE FROM repo_digests WHERE image_id=?", (image_id,))
                c.execute("DELETE FROM images WHERE id=?", (image_id,))
            rep.repaired.append(f"removed broken image {image_id[7:19]}: {problem}")
        else:
            rep.problems.append(f"image {image_id[7:19]} is broken: {problem}")


def _check_layers(images: ImageService, image_id: str, rep: Report, repair: bool) -> None:
    img = images.get(image_id)
    parent = ""
    for d in images.config(img)["rootfs"]["diff_ids"]:
        parent = chain_id(parent, d)
        if images.snapshots.get(parent) is None:
            if repair:
                man = images.manifest(img)
                images.unpack(man["layers"], images.config(img)["rootfs"]["diff_ids"])
                rep.repaired.append(f"unpacked missing layers of image {image_id[7:19]} again")
            else:
                rep.problems.append(f"image {image_id[7:19]} lacks its unpacked layer {parent[7:19]}")
            return


def _check_snapshots(images: ImageService, rep: Report, repair: bool) -> None:
    snaps = images.snapshots.all()
    rep.checked["snapshots"] = len(snaps)
    keys = {s.key for s in snaps}
    for s in snaps:
        missing_dir = not (images.snapshots.root / s.dir).is_dir()
        orphaned = bool(s.parent) and s.parent not in keys
        if not (missing_dir or orphaned):
            continue
        what = "its directory is missing" if missing_dir else f"its parent {s.parent[7:19]} is gone"
        if repair:
            with images.db.write() as c:
                c.execute("DELETE FROM snapshots WHERE key=?", (s.key,))
            rep.repaired.append(f"dropped snapshot record {s.key[:19]}: {what}")
        else:
            rep.problems.append(f"snapshot {s.key[:19]} is broken: {what}")


def _leftovers(images: ImageService, rep: Report, repair: bool) -> None:
    stray = images.content.stray_ingests()
    orphans = images.snapshots.orphans()
    blobs, keys = images.referenced()
    unused_blobs = [d for d in images.content.digests() if d not in blobs]
    unused_snaps = _unused_layers(images.snapshots.all(), keys)
    if repair:
        for p in stray:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        for p in orphans:
            shutil.rmtree(p, ignore_errors=True)
        freed = images.collect_garbage()
        if stray or orphans or unused_blobs or unused_snaps:
            rep.repaired.append(
                f"reclaimed {len(stray)} scratch files, {len(orphans)} unrecorded directories, "
                f"{len(unused_blobs)} unused blobs and {len(unused_snaps)} unused layers ({freed} bytes)"
            )
        return
    if stray:
        rep.leftovers.append(f"{len(stray)} scratch files of stopped processes in ingest/")
    if orphans:
        rep.leftovers.append(f"{len(orphans)} directories under snapshots/ that no record points to")
    if unused_blobs:
        rep.leftovers.append(f"{len(unused_blobs)} blobs no image uses")
    if unused_snaps:
        rep.leftovers.append(f"{len(unused_snaps)} unpacked layers no image uses")


def _unused_layers(snaps: list, keys: set[str]) -> list:
    """The committed layers garbage collection takes: those no image or other holder
    references and no snapshot that stays sits on (a container's own layer sits on its init
    layer, which sits on its image's)."""
    parent = {s.key: s.parent for s in snaps}
    stays: set[str] = set()
    for s in snaps:
        if s.kind != "committed" or s.key in keys:
            key = s.key
            while key and key not in stays:
                stays.add(key)
                key = parent.get(key)
    return [s for s in snaps if s.kind == "committed" and s.key not in stays]
