"""Garbage collection: delete blobs no tag can reach, safely while the registry serves.

Mark: from every tag of every repository, the manifest, its config and layers, its child
manifests and every manifest that refers to it (referrers), recursively. Sweep: every other
blob, unless it was stamped (created, uploaded, mounted, referenced by a manifest push) after
the collection started. Writers stamp blobs under the shared reference lock (see locks.py);
the collector takes that lock exclusively once to fix its start time after all earlier
writers finish, and around each deletion, together with the links that named the blob, so
a blob being referenced right now is never deleted and no link outlives its blob.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dockyard.oci.digest import from_hex
from dockyard.registry import errors
from dockyard.registry.manifests import parse_stored
from dockyard.registry.storage import RegistryStorage

UPLOAD_MAX_AGE = 7 * 24 * 3600


@dataclass
class GCReport:
    marked: int = 0
    deleted: list[str] = field(default_factory=list)  # deleted, or deletable in a dry run
    freed_bytes: int = 0
    kept_recent: int = 0  # unreferenced but stamped after the collection started
    uploads_purged: int = 0
    dry_run: bool = False


def _mark(storage: RegistryStorage) -> set[str]:
    marked: set[str] = set()
    visited: set[tuple[str, str]] = set()

    def visit(repo: str, digest: str) -> None:
        if (repo, digest) in visited:
            return
        visited.add((repo, digest))
        marked.add(digest)
        try:
            stored = storage.get_manifest(repo, digest)
        except errors.RegistryError:
            return
        manifest = parse_stored(stored.data, stored.media_type)
        if manifest is not None:
            marked.update(b.digest for b in manifest.blobs)
            for child in manifest.children:
                visit(repo, child.digest)
        for referrer in storage.referrers(repo, digest):
            visit(repo, referrer["digest"])

    for repo in storage.repositories():
        for _tag, digest in storage.tag_map(repo):
            visit(repo, digest)
    return marked


def _links(storage: RegistryStorage) -> dict[str, list[Path]]:
    """Every link file naming each blob, so they go together with the blob."""
    links: dict[str, list[Path]] = defaultdict(list)
    for repo in storage.repositories():
        d = storage.repo_dir(repo)
        dirs = [d / "_layers", d / "_manifests" / "revisions"]
        if (d / "_referrers").is_dir():
            dirs += [p for p in (d / "_referrers").iterdir() if p.is_dir()]
        for sub in dirs:
            if sub.is_dir():
                for entry in os.scandir(sub):
                    digest = from_hex(entry.name)
                    if digest:
                        links[digest].append(Path(entry.path))
    return links


def _purge_uploads(storage: RegistryStorage, max_age: float) -> int:
    purged = 0
    cutoff = time.time() - max_age
    for d in storage.uploads_dir.iterdir():
        try:
            started = json.loads((d / "info.json").read_text())["started"]
        except (OSError, ValueError, KeyError):
            started = d.stat().st_mtime
        if started < cutoff:
            shutil.rmtree(d, ignore_errors=True)
            purged += 1
    return purged


def gc(root: str | os.PathLike, dry_run: bool = False, *, upload_max_age: float = UPLOAD_MAX_AGE,
       after_mark: Callable[[], None] | None = None) -> GCReport:
    """Collect garbage in the registry at `root`; with `dry_run`, only report what would go.

    `after_mark` runs between mark and sweep; it exists so tests can act in that window.
    """
    storage = RegistryStorage(root)
    report = GCReport(dry_run=dry_run)
    with storage.lock.exclusive():
        started_ns = time.time_ns()
    marked = _mark(storage)
    links = _links(storage)
    report.marked = len(marked)
    if after_mark is not None:
        after_mark()
    for digest in sorted(set(storage.blobs.digests()) - marked):
        path = storage.blobs.path(digest)
        with storage.lock.exclusive():
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if st.st_mtime_ns >= started_ns:
                report.kept_recent += 1
                continue
            if not dry_run:
                path.unlink()
                for link in links.get(digest, ()):
                    link.unlink(missing_ok=True)
        report.deleted.append(digest)
        report.freed_bytes += st.st_size
    if not dry_run:
        report.uploads_purged = _purge_uploads(storage, upload_max_age)
    return report
