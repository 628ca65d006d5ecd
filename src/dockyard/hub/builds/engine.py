"""Read-only look-ups in the hub's build engine root, without opening (or locking) the engine:
which image a name has, and an image's manifest, whose blobs the root's content store holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def _query(engine_root: Path, sql: str, params: tuple) -> tuple | None:
    path = engine_root / "dockyard.db"
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def image_id(engine_root: Path, name: str) -> str | None:
    """The image ID tagged `name` (fully qualified: docker.io/library/busybox:latest), if any."""
    row = _query(engine_root, "SELECT image_id FROM tags WHERE name=?", (name,))
    return row[0] if row else None


def manifest_digest(engine_root: Path, image: str) -> str | None:
    """The digest of image `image`'s manifest in the root's content store."""
    row = _query(engine_root, "SELECT manifest_digest FROM images WHERE id=?", (image,))
    return row[0] if row else None
