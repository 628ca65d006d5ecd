"""The metadata DB: migrations run once, per component, and writes are transactions."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from dockyard.store.metadata import MIGRATIONS, MetadataDB


def test_core_schema_and_reopen(tmp_path):
    db = MetadataDB(tmp_path / "d.db")
    assert db.schema_version == len(MIGRATIONS)
    with db.write() as c:
        c.execute("INSERT INTO images VALUES ('sha256:a','sha256:m','t',1,2)")
    assert MetadataDB(tmp_path / "d.db").one("SELECT id FROM images")[0] == "sha256:a"


def test_failed_write_rolls_back(tmp_path):
    db = MetadataDB(tmp_path / "d.db")
    with pytest.raises(RuntimeError):
        with db.write() as c:
            c.execute("INSERT INTO images VALUES ('sha256:a','sha256:m','t',1,2)")
            raise RuntimeError("boom")
    assert db.query("SELECT * FROM images") == []


def test_component_migrations_are_incremental(tmp_path):
    db = MetadataDB(tmp_path / "d.db")
    db.migrate("things", ["CREATE TABLE things (a TEXT);"])
    with db.write() as c:
        c.execute("INSERT INTO things VALUES ('x')")
    db2 = MetadataDB(tmp_path / "d.db")
    db2.migrate("things", ["CREATE TABLE things (a TEXT);", "ALTER TABLE things ADD COLUMN b TEXT DEFAULT 'y';"])
    assert tuple(db2.one("SELECT a, b FROM things")) == ("x", "y")
    with pytest.raises(sqlite3.OperationalError):
        db2.migrate("broken", ["CREATE TABLE t (a);", "THIS IS NOT SQL;"])
    assert db2.one("SELECT 1 FROM schema_versions WHERE component='broken'") is None


def test_concurrent_writers_queue_instead_of_failing(tmp_path):
    path = tmp_path / "d.db"
    MetadataDB(path)
    errors = []

    def worker(n):
        db = MetadataDB(path)
        try:
            for i in range(50):
                with db.write() as c:
                    c.execute("INSERT INTO tags VALUES (?, 'sha256:x')", (f"t{n}-{i}",))
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    with MetadataDB(path).write() as c:
        c.execute("INSERT INTO images VALUES ('sha256:x','m','t',1,2)")
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert MetadataDB(path).one("SELECT COUNT(*) FROM tags")[0] == 200
