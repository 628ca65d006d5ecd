"""The registry's state on disk: shared blobs, per-repository links, tags and referrers.

    <root>/blobs/<algorithm>/<hex>                     every blob and manifest, once (ContentStore)
    <root>/repositories/<name>/_layers/<hex>           the repository may serve this blob
    <root>/repositories/<name>/_manifests/revisions/<hex>   a manifest of the repository (holds its media type)
    <root>/repositories/<name>/_manifests/tags/<tag>   the digest the tag points to
    <root>/repositories/<name>/_referrers/<subject-hex>/<hex>   descriptor of a manifest whose subject is <subject>
    <root>/uploads/<uuid>/                             blob uploads in progress (see uploads.py)

Links are named by the digest's hex, whose length tells sha256 from sha512 (digest.from_hex).
Blobs are shared between repositories, but a repository only reads blobs linked to it, as the
reference registry does: knowing a digest is not enough to read another repository's data.
Each small file is written to a temporary name and renamed, so a reader never sees half of one.
Every operation that makes a blob referenced stamps the blob's mtime under the shared reference
lock; the garbage collector never deletes a blob stamped after it started (see gc.py).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.digest import algorithm_of, digest_of, hex_of
from dockyard.registry import errors, names
from dockyard.registry.locks import ReferenceLock
from dockyard.registry.manifests import Manifest, parse_stored
from dockyard.store.content import ContentStore, Ingest


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class StoredManifest:
    digest: str
    media_type: str
    data: bytes


class RegistryStorage:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.blobs = ContentStore(self.root)
        self.repos_dir = self.root / "repositories"
        self.uploads_dir = self.root / "uploads"
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.lock = ReferenceLock(self.root / "gc.lock")

    # -- repositories ---------------------------------------------------------------------

    def repo_dir(self, name: str) -> Path:
        if not names.is_valid_name(name):
            raise errors.name_invalid(detail={"name": name})
        return self.repos_dir / name

    def repo_exists(self, name: str) -> bool:
        d = self.repo_dir(name)
        return (d / "_layers").is_dir() or (d / "_manifests").is_dir()

    def repositories(self) -> list[str]:
        """Every repository name, sorted, found by walking the repositories directory."""
        found = []
        for dirpath, dirnames, _ in os.walk(self.repos_dir):
            rel = os.path.relpath(dirpath, self.repos_dir)
            if "_layers" in dirnames or "_manifests" in dirnames:
                found.append(rel)
            dirnames[:] = [d for d in dirnames if not d.startswith("_") and not d.startswith(".")]
        return sorted(found)

    # -- blobs ----------------------------------------------------------------------------

    def _stamp(self, digest: str) -> bool:
        """Mark a blob as referenced now (for the collector); False if the blob is gone."""
        now = time.time_ns()
        try:
            os.utime(self.blobs.path(digest), ns=(now, now))
            return True
        except FileNotFoundError:
            return False

    def _link(self, name: str, digest: str) -> None:
        write_atomic(self.repo_dir(name) / "_layers" / hex_of(digest), b"")

    def blob_path(self, name: str, digest: str) -> Path:
        """The file of a blob this repository may read; BLOB_UNKNOWN otherwise."""
        d = self.repo_dir(name)
        h = hex_of(digest)
        linked = (d / "_layers" / h).exists() or (d / "_manifests" / "revisions" / h).exists()
        path = self.blobs.path(digest)
        if not linked or not path.exists():
            raise errors.blob_unknown(detail={"digest": digest})
        return path

    def has_blob(self, name: str, digest: str) -> bool:
        try:
            self.blob_path(name, digest)
            return True
        except errors.RegistryError:
            return False

    def mount(self, name: str, digest: str, source: str) -> bool:
        """Link a blob of `source` into `name` without copying it; False if `source` lacks it."""
        with self.lock.shared():
            if not self.has_blob(source, digest) or not self._stamp(digest):
                return False
            self._link(name, digest)
            return True

    def commit_ingest(self, name: str, ingest: Ingest, expected: str) -> str:
        """Publish a streamed blob (monolithic upload) and link it; verifies the digest."""
        with self.lock.shared():
            digest = ingest.commit(expected)
            self._stamp(digest)
            self._link(name, digest)
        return digest

    def adopt(self, name: str, path: Path, digest: str) -> None:
        """Move a verified upload file into the blob store and link it to `name`."""
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        with self.lock.shared():
            target = self.blobs.path(digest)
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                path.unlink()
            else:
                os.chmod(path, 0o644)
                os.rename(path, target)
            self._stamp(digest)
            self._link(name, digest)

    def unlink_blob(self, name: str, digest: str) -> None:
        link = self.repo_dir(name) / "_layers" / hex_of(digest)
        if not link.exists():
            raise errors.blob_unknown(detail={"digest": digest})
        link.unlink()

    # -- manifests ------------------------------------------------------------------------

    def _revision(self, name: str, digest: str) -> Path:
        return self.repo_dir(name) / "_manifests" / "revisions" / hex_of(digest)

    def _tag_path(self, name: str, tag: str) -> Path:
        return self.repo_dir(name) / "_manifests" / "tags" / tag

    def _stamp_tree(self, name: str, digest: str) -> None:
        """Stamp a manifest and everything below it, so a collector running now keeps it all."""
        self._stamp(digest)
        media_type = _read_text(self._revision(name, digest))
        if media_type is None or not self.blobs.exists(digest):
            return
        manifest = parse_stored(self.blobs.read(digest), media_type)
        if manifest is None:
            return
        for blob in manifest.blobs:
            self._stamp(blob.digest)
        for child in manifest.children:
            self._stamp_tree(name, child.digest)

    def put_manifest(self, name: str, data: bytes, manifest: Manifest, tag: str | None,
                     digest: str | None = None, *, require_blobs: bool = True) -> str:
        """Store a validated manifest under `digest` (already checked against `data`; by
        default its sha256); MANIFEST_BLOB_UNKNOWN if it pins what the repo lacks, unless not
        `require_blobs` (a pull-through cache fetches them when they are asked for)."""
        with self.lock.shared():
            for blob in manifest.blobs if require_blobs else ():
                if not blob.foreign and not self.has_blob(name, blob.digest):
                    raise errors.manifest_blob_unknown(detail={"digest": blob.digest})
            for child in manifest.children if require_blobs else ():
                if not self.has_manifest(name, child.digest):
                    raise errors.manifest_blob_unknown(detail={"digest": child.digest})
            digest = self.blobs.put(data, digest)
            for blob in manifest.blobs:
                self._stamp(blob.digest)
            for child in manifest.children:
                self._stamp_tree(name, child.digest)
            self._stamp(digest)
            write_atomic(self._revision(name, digest), manifest.media_type.encode())
            if manifest.subject is not None:
                descriptor = {"mediaType": manifest.media_type, "digest": digest, "size": len(data)}
                if manifest.artifact_type:
                    descriptor["artifactType"] = manifest.artifact_type
                if manifest.annotations:
                    descriptor["annotations"] = manifest.annotations
                entry = self.repo_dir(name) / "_referrers" / hex_of(manifest.subject.digest) / hex_of(digest)
                write_atomic(entry, json.dumps(descriptor).encode())
            if tag is not None:
                write_atomic(self._tag_path(name, tag), digest.encode())
        return digest

    def has_manifest(self, name: str, digest: str) -> bool:
        return self._revision(name, digest).exists() and self.blobs.exists(digest)

    def tag_age(self, name: str, tag: str) -> float | None:
        """Seconds since the tag was last written or confirmed (touch_tag); None if there is none."""
        try:
            return time.time() - self._tag_path(name, tag).stat().st_mtime
        except FileNotFoundError:
            return None

    def touch_tag(self, name: str, tag: str) -> None:
        os.utime(self._tag_path(name, tag))

    def tag_digest(self, name: str, tag: str) -> str | None:
        return _read_text(self._tag_path(name, tag))

    def resolve(self, name: str, reference: str) -> str:
        """The digest a tag or digest reference names in this repository; MANIFEST_UNKNOWN if none."""
        if names.looks_like_digest(reference):
            digest = reference
        else:
            digest = _read_text(self._tag_path(name, reference)) if names.is_valid_tag(reference) else None
            if digest is None:
                raise errors.manifest_unknown(detail={"tag": reference})
        try:
            present = self._revision(name, digest).exists() and self.blobs.exists(digest)
        except InvalidArgument:  # a digest of an algorithm we do not store names nothing here
            present = False
        if not present:
            raise errors.manifest_unknown(detail={"digest": digest})
        return digest

    def get_manifest(self, name: str, reference: str) -> StoredManifest:
        digest = self.resolve(name, reference)
        media_type = _read_text(self._revision(name, digest))
        try:
            data = self.blobs.read(digest)
        except NotFound:
            raise errors.manifest_unknown(detail={"digest": digest}) from None
        if media_type is None or digest_of(data, algorithm_of(digest)) != digest:
            raise errors.manifest_unknown(detail={"digest": digest})
        return StoredManifest(digest, media_type, data)

    def delete_manifest(self, name: str, digest: str) -> None:
        """Remove a manifest from a repository with every tag that points at it."""
        stored = self.get_manifest(name, digest)
        for tag in self.tags(name):
            if _read_text(self._tag_path(name, tag)) == digest:
                self._tag_path(name, tag).unlink(missing_ok=True)
        manifest = parse_stored(stored.data, stored.media_type)
        if manifest is not None and manifest.subject is not None:
            entry = self.repo_dir(name) / "_referrers" / hex_of(manifest.subject.digest) / hex_of(digest)
            entry.unlink(missing_ok=True)
        self._revision(name, digest).unlink(missing_ok=True)

    def delete_tag(self, name: str, tag: str) -> None:
        path = self._tag_path(name, tag)
        if not names.is_valid_tag(tag) or not path.exists():
            raise errors.manifest_unknown(detail={"tag": tag})
        path.unlink()

    def tags(self, name: str) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.repo_dir(name) / "_manifests" / "tags") if not e.name.startswith("."))
        except FileNotFoundError:
            return []

    def tag_map(self, name: str) -> Iterator[tuple[str, str]]:
        """(tag, digest) pairs of a repository, for the collector."""
        for tag in self.tags(name):
            digest = _read_text(self._tag_path(name, tag))
            if digest:
                yield tag, digest

    def referrers(self, name: str, subject: str) -> list[dict]:
        """Descriptors of the manifests in `name` whose subject is `subject`, sorted by digest."""
        d = self.repo_dir(name) / "_referrers" / hex_of(subject)
        out = []
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            text = _read_text(Path(entry.path))
            if text is None:
                continue
            descriptor = json.loads(text)
            if self._revision(name, descriptor["digest"]).exists() and self.blobs.exists(descriptor["digest"]):
                out.append(descriptor)
        return out
