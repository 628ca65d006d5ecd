"""The image service: images, tags and layers in the store, and their life from load to removal.

Every way an image arrives (bootstrap, import, load, pull, build, commit) ends in `add_image`,
which unpacks the layers into shared snapshots and records the image in one transaction, so
an image is either listed whole or not at all.
"""

from __future__ import annotations

import fnmatch
import shutil
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from dockyard.errors import Conflict, CorruptContent, InvalidArgument, NotFound
from dockyard.images.indexes import INDEX_MIGRATIONS
from dockyard.images.model import Image
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import CANONICAL, algorithm_of
from dockyard.oci.image import chain_id, loads_document, validate_config, validate_manifest
from dockyard.oci.reference import Reference, looks_like_id, parse, parse_normalized
from dockyard.snapshots import Snapshotter
from dockyard.store.content import ContentStore
from dockyard.store.events import EventLog
from dockyard.store.lock import RootLock
from dockyard.store.metadata import MetadataDB
from dockyard.store.space import is_full


PARENT_MIGRATIONS = [
    """
    CREATE TABLE image_parents (
        image_id TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
        parent TEXT NOT NULL              -- the image a local commit started from
    );
    """,
]



def no_such_image(name: str) -> NotFound:
    """dockerd's 404 for an image: a name without tag or digest is told as `name:latest`."""
    try:
        shown = parse_normalized(name).familiar
    except InvalidArgument:
        shown = name
    return NotFound(f"No such image: {shown}")

class ImageService:
    def __init__(self, content: ContentStore, db: MetadataDB, snapshots: Snapshotter, lock: RootLock,
                 events: EventLog) -> None:
        self.events = events  # what `events` shows, whichever front end made the change
        self.content = content
        self.db = db
        self.snapshots = snapshots
        self.lock = lock
        # Services above this layer (containers, build cache) register here who else holds an
        # image or its content, so rmi refuses images in use and GC keeps what they need.
        self.users_of: list[Callable[[str], list[str]]] = []
        self.extra_roots: list[Callable[[], tuple[set[str], set[str]]]] = []
        db.migrate("image-parents", PARENT_MIGRATIONS)
        db.migrate("image-indexes", INDEX_MIGRATIONS)

    def set_parent(self, image_id: str, parent_id: str) -> None:
        """Record the image a local commit started from (Docker's legacy store keeps it beside
        the image, never in its config, so it does not travel with push or save)."""
        with self.db.write() as c:
            c.execute("INSERT OR REPLACE INTO image_parents(image_id, parent) VALUES (?,?)", (image_id, parent_id))

    def parent(self, image_id: str) -> str:
        """The recorded parent of `image_id`, while that image exists; "" otherwise."""
        row = self.db.one("SELECT p.parent FROM image_parents p JOIN images i ON i.id = p.parent "
                          "WHERE p.image_id=?", (image_id,))
        return row[0] if row else ""

    @contextmanager
    def adding(self) -> Iterator[None]:
        """Hold the root lock shared while content is added; if the operation fails, reclaim
        what it left (blobs, layers no image references), so a failed load or pull changes
        nothing. Only the outermost block collects: GC needs the lock exclusively."""
        try:
            with self.lock.shared():
                yield
        except BaseException:
            if not self.lock.held:
                self.collect_garbage()
            raise

    # -- reading documents -----------------------------------------------------------------
    def manifest(self, image: Image) -> dict:
        return validate_manifest(loads_document(self.content.read(image.manifest_digest), "manifest"))

    def config(self, image: Image) -> dict:
        return validate_config(loads_document(self.content.read(image.id), "image config"))

    def top_layer(self, image: Image, config: dict | None = None) -> str:
        """Chain ID of the image's top layer: the parent snapshot of its containers (`config`:
        the image's config, where the caller has read it already)."""
        parent = ""
        for d in (config or self.config(image))["rootfs"]["diff_ids"]:
            parent = chain_id(parent, d)
        return parent

    # -- lookup ----------------------------------------------------------------------------
    def _load(self, image_id: str) -> Image | None:
        row = self.db.one("SELECT * FROM images WHERE id=?", (image_id,))
        if row is None:
            return None
        img = Image(**dict(row))
        img.tags = [r[0] for r in self.db.query("SELECT name FROM tags WHERE image_id=? ORDER BY name", (image_id,))]
        img.repo_digests = [
            f"{r[0]}@{r[1]}"
            for r in self.db.query("SELECT repository, digest FROM repo_digests WHERE image_id=? ORDER BY repository", (image_id,))
        ]
        return img

    def find(self, name: str) -> Image | None:
        """Resolve a reference, a full or short ID, or `repo@digest`, the way docker does."""
        return self._resolve(name)[0]

    def _resolve(self, name: str) -> tuple[Image | None, bool]:
        """(image, whether `name` named it by ID), in docker's order: a full ID, or any form
        with `sha256:`, is an ID; otherwise a tag or digest reference comes first, and a hex
        name that names neither is an ID prefix. (An image tagged `c3` stays itself when
        another image's ID happens to start with c3.)"""
        if looks_like_id(name) and (name.startswith("sha256:") or len(name) == 64):
            return self._by_id_prefix(name), True
        try:
            ref = parse_normalized(name)
        except InvalidArgument:
            if looks_like_id(name):
                return self._by_id_prefix(name), True
            raise
        if ref.digest:
            row = self.db.one("SELECT image_id FROM repo_digests WHERE repository=? AND digest=?", (ref.repository, ref.digest))
            if row is None:
                row = self.db.one("SELECT id FROM images WHERE manifest_digest=?", (ref.digest,))
        else:
            row = self.db.one("SELECT image_id FROM tags WHERE name=?", (str(ref),))
        if row:
            return self._load(row[0]), False
        if looks_like_id(name):
            return self._by_id_prefix(name), True
        return None, False

    def _by_id_prefix(self, name: str) -> Image | None:
        hexpart = name[7:] if name.startswith("sha256:") else name
        rows = self.db.query("SELECT id FROM images WHERE id LIKE ?", (f"sha256:{hexpart}%",))
        if len(rows) > 1:
            raise InvalidArgument(f"image ID prefix {name!r} is ambiguous: give more characters")
        return self._load(rows[0][0]) if rows else None

    def get(self, name: str) -> Image:
        img = self.find(name)
        if img is None:
            raise no_such_image(name)
        return img

    def list(self, *, filters: dict[str, list[str]] | None = None) -> list[Image]:
        filters = filters or {}
        for key in filters:
            if key not in ("dangling", "reference", "before", "since", "label"):
                raise InvalidArgument(f"invalid filter '{key}'")
        images = [self._load(r[0]) for r in self.db.query("SELECT id FROM images ORDER BY created DESC")]
        beneath = self._beneath_indexes()
        images = [i for i in images if i is not None and (i.tags or i.manifest_digest not in beneath)]
        if "dangling" in filters:
            want = filters["dangling"][-1].lower() in ("true", "1")
            images = [i for i in images if (not i.tags) == want]
        if "reference" in filters:
            pats = filters["reference"]
            images = [i for i in images if any(ref_matches(t, p) for t in i.tags for p in pats)]
        for key, cmp in (("before", lambda a, b: a < b), ("since", lambda a, b: a > b)):
            if key in filters:
                pivot = self.get(filters[key][-1])
                images = [i for i in images if cmp(i.created, pivot.created)]
        if "label" in filters:
            images = [i for i in images if all(_label_matches(self.config(i), f) for f in filters["label"])]
        return images

    def _beneath_indexes(self) -> set[str]:
        """Manifest digests of the platforms of tagged indexes: images listed under their index's tag."""
        out: set[str] = set()
        for (digest,) in self.db.query("SELECT DISTINCT digest FROM index_tags"):
            try:
                doc = loads_document(self.content.read(digest), "image index")
            except (NotFound, CorruptContent):
                continue
            out.update(e.get("digest", "") for e in doc.get("manifests") or [])
        return out

    # -- adding ----------------------------------------------------------------------------
    def layer_streams(self, forked: bool = False):
        """Layers to unpack while a pull downloads them (see images/streaming.py), by forked
        children if `forked`, else by threads; pass it to add_image as `streamed`, and use it
        as a context manager around both."""
        from dockyard.images.streaming import LayerStreams
        return LayerStreams(self.snapshots, self.content, forked)

    def add_image(
        self,
        manifest_digest: str,
        tags: Iterable[Reference] = (),
        repo_digest: Reference | None = None,
        streamed=None,
    ) -> Image:
        """Unpack a manifest whose blobs are in the content store (layers that `streamed`
        unpacked during their download are taken from there), then record and tag it."""
        raw = self.content.read(manifest_digest)
        man = validate_manifest(loads_document(raw, f"manifest {manifest_digest}"))
        media_type = man.get("mediaType") or mt.OCI_MANIFEST
        config_digest = man["config"]["digest"]
        if not self.content.exists(config_digest):
            raise CorruptContent(f"manifest {manifest_digest} refers to config {config_digest}, which is missing")
        cfg_raw = self.content.read(config_digest)
        cfg = validate_config(loads_document(cfg_raw, f"image config {config_digest}"))
        image_id = config_digest
        if algorithm_of(config_digest) != CANONICAL:  # an image's ID is its config's sha256, as in docker
            image_id = self.content.put(cfg_raw)
        diff_ids = cfg["rootfs"]["diff_ids"]
        if len(diff_ids) != len(man["layers"]):
            raise CorruptContent(
                f"image config lists {len(diff_ids)} layers but manifest {manifest_digest} has {len(man['layers'])}"
            )
        for desc in man["layers"]:
            if not self.content.exists(desc["digest"]):
                raise CorruptContent(f"manifest {manifest_digest} refers to layer {desc['digest']}, which is missing")
        with self.adding():
            size = self.unpack(man["layers"], diff_ids, streamed)
            with self.db.write() as c:
                c.execute(
                    "INSERT OR IGNORE INTO images(id, manifest_digest, manifest_media_type, created, size) VALUES (?,?,?,?,?)",
                    (image_id, manifest_digest, media_type, time.time(), size),
                )
                for ref in tags:
                    c.execute("INSERT OR REPLACE INTO tags(name, image_id) VALUES (?,?)", (str(ref), image_id))
            if repo_digest is not None:
                self.record_repo_digest(repo_digest, repo_digest.digest, image_id)
        return self.get(image_id)

    def unpack(self, layers: list[dict], diff_ids: list[str], streamed=None) -> int:
        """Apply every layer not already present as a committed snapshot; return the image's size."""
        from dockyard.layers.apply import apply_layer

        parent, total = "", 0
        for desc, diff_id in zip(layers, diff_ids):
            key = chain_id(parent, diff_id)
            snap = self.snapshots.get(key)
            if snap is None:
                done = streamed.take(key) if streamed is not None else None
                guard = self.content.reserve.guard(f"layer {desc['digest']}")
                if parent and self.snapshots.whiteout_mode == "delete":  # vfs copies the parent's tree first
                    guard.charge(sum(s.tar_bytes for s in self.snapshots.chain(parent)))
                try:
                    tmp = done[0] if done else self.snapshots.start_layer(parent)
                except OSError as e:  # vfs copies the parent's tree first
                    raise guard.full() if is_full(e) else e from None
                try:
                    if done:
                        stats = done[1]
                    else:
                        with self.content.open(desc["digest"]) as f:
                            # a stored blob is its digest: one that is the diff ID needs no second hash
                            stats = apply_layer(f, tmp / "fs", whiteout_mode=self.snapshots.whiteout_mode,
                                                verified_diff_id=diff_id if desc["digest"] == diff_id else None,
                                                guard=guard)
                    if stats.diff_id != diff_id:
                        raise CorruptContent(
                            f"layer {desc['digest']} unpacks to {stats.diff_id}, but the image config says {diff_id}"
                        )
                    try:
                        snap = self.snapshots.publish(tmp, key, parent, "committed", diff_id, stats.size, stats.tar_size)
                    except Conflict:  # another process unpacked the same layer meanwhile
                        snap = self.snapshots.need(key)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
            total += snap.size
            parent = key
        return total

    def record_repo_digest(self, ref: Reference, digest: str, image_id: str) -> None:
        """Remember the digest a registry knows this image by (shown as RepoDigests, used by `name@digest`)."""
        with self.db.write() as c:
            c.execute("INSERT OR REPLACE INTO repo_digests(repository, digest, image_id) VALUES (?,?,?)",
                      (ref.repository, digest, image_id))

    # -- tags ------------------------------------------------------------------------------
    def tag(self, source: str, target: str) -> Reference:
        img = self.get(source)
        ref = parse_normalized(target)
        if ref.digest:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
        from dockyard.images.indexes import index_digest
        index = index_digest(self, source)
        with self.db.write() as c:
            c.execute("INSERT OR REPLACE INTO tags(name, image_id) VALUES (?,?)", (str(ref), img.id))
            if index:  # a tag of a multi-platform image names the whole index, as the source does
                c.execute("INSERT OR REPLACE INTO index_tags(name, digest) VALUES (?,?)", (str(ref), index))
            else:
                c.execute("DELETE FROM index_tags WHERE name=?", (str(ref),))
        self.events.emit("image", "tag", img.id, name=ref.familiar)
        return ref

    def remove(self, name: str, *, force: bool = False, prune: bool = True) -> list[tuple[str, str]]:
        """`docker rmi`: untag, and delete the image when no tag is left; returns docker's
        ("Untagged"|"Deleted", what) lines. An image a container uses is refused unless forced
        (and even then only untagged, as docker does)."""
        img, by_id = self._resolve(name)
        if img is None:
            raise no_such_image(name)
        out: list[tuple[str, str]] = []
        users = self.users(img.id)
        if by_id and len(img.tags) > 1 and not force:
            raise Conflict(
                f"conflict: unable to delete {img.short_id} (must be forced) - image is referenced in multiple repositories"
            )
        if by_id:
            untag = list(img.tags)
            if users and not force:
                raise Conflict(
                    f"conflict: unable to delete {img.short_id} (must be forced) - image is being used by container {users[0][:12]}"
                )
        else:
            untag = [str(parse_normalized(name))]
            if len(img.tags) <= 1 and users and not force:
                raise Conflict(
                    f"conflict: unable to remove repository reference \"{name}\" (must force) - container {users[0][:12]} is using its referenced image {img.short_id}"
                )
        beneath = self._beneath_indexes()
        with self.db.write() as c:
            for t in untag:
                c.execute("DELETE FROM tags WHERE name=?", (t,))
                c.execute("DELETE FROM index_tags WHERE name=?", (t,))
                out.append(("Untagged", familiar(t)))
            left = c.execute("SELECT COUNT(*) FROM tags WHERE image_id=?", (img.id,)).fetchone()[0]
            if left == 0 and not users:
                for rd in img.repo_digests:
                    out.append(("Untagged", familiar(rd)))
                c.execute("DELETE FROM repo_digests WHERE image_id=?", (img.id,))
                c.execute("DELETE FROM images WHERE id=?", (img.id,))
                out.append(("Deleted", img.id))
        for action, what in out:
            self.events.emit("image", "untag" if action == "Untagged" else "delete", img.id, name=what)
        for digest in beneath - self._beneath_indexes():  # platforms of an index no tag names any more
            row = self.db.one("SELECT id FROM images WHERE manifest_digest=?", (digest,))
            child = self._load(row[0]) if row else None
            if child is not None and not child.tags and not self.users(child.id):
                out.extend(self.remove(child.id, force=True, prune=False))
        if prune:
            self.collect_garbage()
        return out

    def users(self, image_id: str) -> list[str]:
        """IDs of containers (or other holders) that use the image."""
        found: list[str] = []
        for fn in self.users_of:
            found.extend(fn(image_id))
        return found

    def prune(self, *, all: bool = False, filters: dict[str, list[str]] | None = None) -> tuple[list[tuple[str, str]], int]:
        """Remove dangling images (or, with `all`, every image no container uses), of those the
        prune `filters` (until, label, label!) select."""
        before = self.disk_usage()
        out: list[tuple[str, str]] = []
        for img in self.list():
            if (img.tags and not all) or self.users(img.id):
                continue
            if filters and not self._prune_selects(img, filters):
                continue
            for t in img.tags:
                out.extend(self.remove(t, force=True, prune=False))
            if not img.tags:
                out.extend(self.remove(img.id, force=True, prune=False))
        self.collect_garbage()
        return out, max(0, before - self.disk_usage())

    def _prune_selects(self, img: Image, filters: dict[str, list[str]]) -> bool:
        """The prune filters hold for this image: `until` against the creation time its config
        records (dockerd's choice), labels against its config's labels."""
        from dockyard import filtering
        from dockyard.images.rows import created_epoch
        cfg = self.config(img)
        return filtering.selects(filters, (cfg.get("config") or {}).get("Labels"), created_epoch(cfg.get("created")))

    # -- garbage collection ----------------------------------------------------------------
    def referenced(self, include_extra: bool = True) -> tuple[set[str], set[str]]:
        """Blobs and committed snapshot keys that some image (and, with `include_extra`, some
        other holder such as the build cache) still needs."""
        blobs: set[str] = {r[0] for r in self.db.query("SELECT digest FROM index_tags")}
        keys: set[str] = set()
        for row in self.db.query("SELECT id, manifest_digest FROM images"):
            blobs.update((row[0], row[1]))
            try:
                man = validate_manifest(loads_document(self.content.read(row[1]), "manifest"))
                cfg = validate_config(loads_document(self.content.read(row[0]), "image config"))
            except (NotFound, CorruptContent):
                continue
            blobs.update(d["digest"] for d in (man["config"], *man["layers"]))
            parent = ""
            for d in cfg["rootfs"]["diff_ids"]:
                parent = chain_id(parent, d)
                keys.add(parent)
        for extra in self.extra_roots if include_extra else ():
            b, k = extra()
            blobs |= b
            keys |= k
        return blobs, keys

    def collect_garbage(self) -> int:
        """Delete blobs and layers nothing references; returns bytes freed. Takes the root lock
        exclusively, so it never races a process that is adding content."""
        freed = 0
        with self.lock.exclusive():
            blobs, keys = self.referenced()
            for snap in sorted(self.snapshots.all(), key=lambda s: -len(self.snapshots.chain(s.key))):
                if snap.kind == "committed" and snap.key not in keys:
                    if self.db.one("SELECT 1 FROM snapshots WHERE parent=?", (snap.key,)):
                        continue
                    freed += snap.size
                    self.snapshots.remove(snap.key)
            for digest in list(self.content.digests()):
                if digest not in blobs:
                    try:
                        freed += self.content.size(digest)
                    except NotFound:
                        continue
                    self.content.delete(digest)
        return freed

    def disk_usage(self, only: list[Image] | None = None) -> int:
        """Unpacked bytes of all layers, or of those `only` these images use; shared layers count once."""
        if only is None:
            return sum(s.size for s in self.snapshots.all() if s.kind == "committed")
        keys = {s.key for img in only for s in self.snapshots.chain(self.top_layer(img))}
        return sum(self.snapshots.need(k).size for k in keys)


def familiar(name: str) -> str:
    """The short form docker prints (`busybox:latest`), or the text itself if it is no reference."""
    try:
        return parse(name).familiar
    except InvalidArgument:
        return name


def ref_matches(tag: str, pattern: str) -> bool:
    """docker's `reference=` filter: a glob against the short or full name, with or without tag."""
    ref = parse(tag)
    candidates = [ref.familiar, ref.familiar_repository, str(ref), ref.repository]
    return any(fnmatch.fnmatchcase(c, pattern) for c in candidates)


def _label_matches(cfg: dict, flt: str) -> bool:
    labels = (cfg.get("config") or {}).get("Labels") or {}
    if "=" in flt:
        k, v = flt.split("=", 1)
        return labels.get(k) == v
    return flt in labels
