"""The metadata DB as the commands answered before the parser loads see it (cli/readonly.py,
cli/execquick.py): queries, and the few short writes of `exec` (its record, its events).

MetadataDB (metadata.py) brings `sqlite3`, `threading`, `contextlib` and `pathlib` with it,
and migrates on open; these commands need one connection and one question answered:
is the schema current? If not, it raises Behind and the full command (which migrates) runs.
`_sqlite3` is the C module the `sqlite3` package wraps (the same classes and errors):
importing it alone skips `datetime` and the package's adapters, which reading text never uses.
"""

from __future__ import annotations

import _sqlite3

from dockyard.errors import DockyardError

Error = _sqlite3.Error


class Behind(DockyardError):
    """The DB's schema for a component is older than this code's: the full path migrates it."""


class Reader:
    def __init__(self, path: str) -> None:
        # the same busy timeout as MetadataDB; no file is made where there is none
        uri = "file:" + path.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?mode=rw"
        self._conn = _sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
        self._conn.row_factory = _sqlite3.Row

    def migrate(self, component: str, migrations: list[str]) -> None:
        """MetadataDB.migrate's check without its writes."""
        row = self.one("SELECT version FROM schema_versions WHERE component=?", (component,))
        if row is None or row[0] < len(migrations):
            raise Behind(f"the {component} schema needs migrating")

    def write(self) -> _Transaction:
        """`with reader.write() as conn:` one immediate transaction, as MetadataDB.write (its
        disk-full handling aside: the caller falls back to the full command or reports it)."""
        return _Transaction(self._conn)

    def query(self, sql: str, params: tuple = ()) -> list:
        return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple = ()):
        return self._conn.execute(sql, params).fetchone()


class _Transaction:
    def __init__(self, conn) -> None:
        self.conn = conn

    def __enter__(self):
        self.conn.execute("PRAGMA synchronous=NORMAL")  # as MetadataDB: a commit waits for no fsync
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
