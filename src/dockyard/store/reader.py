"""The metadata DB as the commands answered before the parser loads see it (cli/readonly.py,
cli/execquick.py): queries, and their few short writes (`top`'s event, `exec`'s record and events).

MetadataDB (metadata.py) brings `sqlite3`, `threading`, `contextlib` and `pathlib` with it,
and migrates on open; a read-only command needs one connection and one question answered:
is the schema current? If not, it raises Behind and the full command (which migrates) runs.
`_sqlite3` is the C module the `sqlite3` package wraps (the same classes and errors):
importing it alone skips `datetime` and the package's adapters, which reading text never uses.
"""

from __future__ import annotations

import sys

from dockyard.errors import DockyardError


def _import_sqlite3():
    """`_sqlite3`, loaded without `functools` where nothing has loaded that yet. The module
    takes only functools.lru_cache from it, for its cache of prepared statements, and
    functools brings `collections` (keyword, operator, reprlib, ...): 2-5 ms of a read-only
    command that runs a few statements once each. Given an lru_cache that caches nothing,
    each statement is prepared when run; the real functools loads as usual for anything later."""
    if "functools" in sys.modules or "_sqlite3" in sys.modules:
        import _sqlite3
        return _sqlite3
    stand_in = type(sys)("functools")
    stand_in.lru_cache = lambda maxsize: lambda prepare: prepare
    sys.modules["functools"] = stand_in
    try:
        import _sqlite3
    finally:
        del sys.modules["functools"]
    return _sqlite3


_sqlite3 = _import_sqlite3()

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

    def write(self, work) -> None:
        """work(connection) in one immediate transaction, as MetadataDB.write runs it (WAL with
        synchronous=NORMAL: no fsync per commit); rolled back if it raises."""
        conn = self._conn
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            work(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> list:
        return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple = ()):
        return self._conn.execute(sql, params).fetchone()
