"""The build cache: what each build step produced, found again by what went into it.

A step's key is a hash of its parent's key (which chains back to the base image), the
instruction with its arguments expanded, the build args it can see, and the content hashes
of the files it copies. The record holds the layer it made (if any) and the time it was
made, so a fully cached rebuild writes byte-identical history and hence the same image ID.
Records live in the metadata DB, shared by every build on the root and surviving restarts;
their layers are GC roots until `builder prune` drops them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

MIGRATIONS = [
    """
    CREATE TABLE build_cache (
        key TEXT PRIMARY KEY,            -- sha256 of parent key + step inputs
        created_by TEXT NOT NULL,        -- the history entry's created_by
        created TEXT NOT NULL,           -- RFC 3339, reused on every hit
        layer TEXT NOT NULL DEFAULT '',  -- JSON descriptor of the layer blob, '' for none
        diff_id TEXT NOT NULL DEFAULT '',
        chain TEXT NOT NULL DEFAULT '',  -- chain ID of the snapshot after this step
        size INTEGER NOT NULL DEFAULT 0, -- compressed bytes of the layer
        last_used REAL NOT NULL
    );
    CREATE INDEX build_cache_chain ON build_cache(chain);
    """,
]


@dataclass(frozen=True)
class CacheRecord:
    created_by: str
    created: str
    layer: dict | None
    diff_id: str
    chain: str


def step_key(parent: str, *parts: object) -> str:
    """The cache key of a step: its parent's key and its inputs, canonically serialised."""
    text = json.dumps([parent, *parts], sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class BuildCache:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.db = engine.db
        self.db.migrate("build", MIGRATIONS)

    def get(self, key: str) -> CacheRecord | None:
        """A record whose layer is still in the store (a blob GC'd behind our back is a miss)."""
        row = self.db.one("SELECT created_by, created, layer, diff_id, chain FROM build_cache WHERE key=?", (key,))
        if row is None:
            return None
        layer = json.loads(row["layer"]) if row["layer"] else None
        if layer is not None and not self.engine.content.exists(layer["digest"]):
            return None
        with self.db.write() as c:
            c.execute("UPDATE build_cache SET last_used=? WHERE key=?", (time.time(), key))
        return CacheRecord(row["created_by"], row["created"], layer, row["diff_id"], row["chain"])

    def put(self, key: str, record: CacheRecord) -> None:
        layer = record.layer or {}
        with self.db.write() as c:
            c.execute(
                "INSERT OR REPLACE INTO build_cache(key, created_by, created, layer, diff_id, chain, size, last_used)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (key, record.created_by, record.created, json.dumps(layer) if layer else "", record.diff_id,
                 record.chain, layer.get("size", 0), time.time()),
            )

    def roots(self) -> tuple[set[str], set[str]]:
        """Blobs and snapshot keys the cache still needs (an ImageService.extra_roots hook)."""
        blobs, keys = set(), set()
        for row in self.db.query("SELECT layer, chain FROM build_cache WHERE layer != ''"):
            blobs.add(json.loads(row["layer"])["digest"])
            keys.add(row["chain"])
        return blobs, keys

    def usage(self) -> tuple[int, int]:
        """(records, bytes of their layers) for `system df`."""
        row = self.db.one("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM build_cache")
        return int(row[0]), int(row[1])

    def prune(self, *, all: bool = False, filters: dict[str, list[str]] | None = None) -> tuple[int, int]:
        """Drop cache records (with `all`, every one; otherwise those whose layer no image uses)
        of those the prune `filters` select (`until`/`unused-for`: not used since; records carry
        no labels, so `label` selects none and `label!` all), and collect what they held;
        returns (records removed, bytes freed)."""
        from dockyard.filtering import selects
        wanted = dict(filters or {})
        if "unused-for" in wanted:
            wanted["until"] = wanted.pop("unused-for") + wanted.get("until", [])
        in_images = set() if all else self.engine.images.referenced(include_extra=False)[0]
        rows = self.db.query("SELECT key, layer, last_used FROM build_cache")
        doomed = [r["key"] for r in rows
                  if (all or not r["layer"] or json.loads(r["layer"])["digest"] not in in_images)
                  and (not wanted or selects(wanted, {}, r["last_used"]))]
        if wanted and not doomed:
            return 0, 0  # nothing selected: nothing to collect either
        with self.db.write() as c:
            c.executemany("DELETE FROM build_cache WHERE key=?", [(k,) for k in doomed])
        freed = self.engine.images.collect_garbage()
        return len(doomed), freed
