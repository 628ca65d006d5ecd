"""The metadata DB: SQLite in WAL mode, shared by every dockyard process on the same root.

Writes are short `BEGIN IMMEDIATE` transactions so concurrent CLIs and servers queue instead
of failing; the schema is versioned and migrated forward on open, so an old root keeps working.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

# Each entry upgrades the core schema by one version; never edit a released entry, append a new
# one. Services above this layer (containers, networks, volumes, build cache) keep their own
# lists and pass them to `MetadataDB.migrate`, so each owns its tables without editing this file.
MIGRATIONS: list[str] = [
    # 1: images, tags, layers (committed snapshots by chain ID), snapshots
    """
    CREATE TABLE images (
        id TEXT PRIMARY KEY,              -- config digest (Docker's image ID)
        manifest_digest TEXT NOT NULL,
        manifest_media_type TEXT NOT NULL,
        created REAL NOT NULL,            -- when it entered this store
        size INTEGER NOT NULL             -- unpacked size of all layers
    );
    CREATE TABLE tags (
        name TEXT PRIMARY KEY,            -- fully qualified: docker.io/library/busybox:latest
        image_id TEXT NOT NULL REFERENCES images(id)
    );
    CREATE INDEX tags_image ON tags(image_id);
    CREATE TABLE repo_digests (
        repository TEXT NOT NULL,         -- docker.io/library/busybox
        digest TEXT NOT NULL,             -- manifest digest as the registry knows it
        image_id TEXT NOT NULL REFERENCES images(id),
        PRIMARY KEY (repository, digest)
    );
    CREATE TABLE snapshots (
        key TEXT PRIMARY KEY,             -- chain ID for committed layers, container ID for active ones
        dir TEXT NOT NULL UNIQUE,         -- directory name under snapshots/
        parent TEXT NOT NULL DEFAULT '',  -- key of the parent committed snapshot
        kind TEXT NOT NULL,               -- committed | active
        diff_id TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE INDEX snapshots_parent ON snapshots(parent);
    """,
    # 2: a layer's size as Docker counts it (its unpacked files) is `size`; the tar's own bytes,
    # which `save` writes it as, are `tar_size` (NULL in rows from before: their `size` is that)
    """
    ALTER TABLE snapshots ADD COLUMN tar_size INTEGER;
    """,
]


_SQLITE_FULL = 13  # "database or disk is full"


class MetadataDB:
    """One connection per thread; each `write()` block is one immediate transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._migrated: set[str] = set()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def _migrate(self) -> None:
        conn = self._connect()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= len(MIGRATIONS):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, len(MIGRATIONS)):
                for stmt in _statements(MIGRATIONS[i]):
                    conn.execute(stmt)
            conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def migrate(self, component: str, migrations: list[str]) -> None:
        """Bring a service's own tables up to date; cheap after the first call in a process."""
        if component in self._migrated:
            return
        conn = self._connect()
        conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_versions WHERE component=?", (component,)).fetchone()
        if row is None or row[0] < len(migrations):
            with self.write() as c:
                row = c.execute("SELECT version FROM schema_versions WHERE component=?", (component,)).fetchone()
                for i in range(row[0] if row else 0, len(migrations)):
                    for stmt in _statements(migrations[i]):
                        c.execute(stmt)
                c.execute("INSERT OR REPLACE INTO schema_versions(component, version) VALUES (?,?)",
                          (component, len(migrations)))
        self._migrated.add(component)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a disk too full for it rolls it back and raises NoSpace."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite rolls back by itself after some errors (a full disk)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", None) != _SQLITE_FULL:
                raise
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            from dockyard.store.space import disk_full
            raise disk_full("recording the change", Path(self.path).parent) from None

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        return self._connect().execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple = ()) -> sqlite3.Row | None:
        return self._connect().execute(sql, params).fetchone()

    @property
    def schema_version(self) -> int:
        return self._connect().execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _statements(script: str) -> list[str]:
    """Split a migration into statements so they run inside our own transaction
    (sqlite3's executescript would commit first)."""
    out, buf = [], []
    for line in script.splitlines():
        code = line.split("--", 1)[0]
        buf.append(code)
        if code.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.strip(";").strip():
                out.append(stmt)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return out
