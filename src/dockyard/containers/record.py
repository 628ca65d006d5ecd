"""The container record and its table: everything the engine remembers about a container.

Config and HostConfig are kept in docker's own JSON shapes, so the API and `inspect` show
exactly what was asked for, and one code path serves the CLI and the Engine API.
"""

from __future__ import annotations

import time

from dockyard.errors import Conflict, NotFound
from dockyard.jsonread import loads

TYPE_CHECKING = False  # the read-only commands read rows through store/reader.py: no MetadataDB
if TYPE_CHECKING:
    from dockyard.store.metadata import MetadataDB

MIGRATIONS = [
    """
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created REAL NOT NULL,
        image_ref TEXT NOT NULL,          -- what the user asked for: busybox
        image_id TEXT NOT NULL,           -- what it resolved to
        config TEXT NOT NULL,             -- docker Config (merged with the image's)
        host_config TEXT NOT NULL,        -- docker HostConfig
        network_settings TEXT NOT NULL DEFAULT '{}',
        mounts TEXT NOT NULL DEFAULT '[]',    -- docker Mounts (names of anonymous volumes live here)
        state TEXT NOT NULL,              -- docker State
        restart_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX containers_image ON containers(image_id);
    """,
    # 2: which start the shim now watching a container came from, so a late exit hook of an
    # earlier run never touches a container that was started again
    "ALTER TABLE containers ADD COLUMN run_id TEXT NOT NULL DEFAULT '';",
    # 3: `ps` (all(running=True)) finds the running rows by their status without reading every
    # row's state (which lies past the config's overflow pages): 0.7 ms of `ps` at 300 containers
    "CREATE INDEX containers_status ON containers(json_extract(state, '$.Status'));",
]

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(t: float | None = None) -> str:
    """Go's RFC3339Nano, what docker prints for times."""
    t = time.time() if t is None else t
    frac = f"{t % 1:.9f}"[2:].rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + (f".{frac}" if frac else "") + "Z"


def new_state() -> dict:
    return {"Status": "created", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
            "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}


RUNNING = ("running", "paused", "restarting")  # the statuses of a container with processes
FIELDS = ("id", "name", "created", "image_ref", "image_id", "config", "host_config", "network_settings", "mounts",
          "state", "restart_count", "run_id")


class Container:
    """One container's record, a row of the table. A plain class: `dataclasses` would cost
    every read-only command a dozen more imports (inspect, ast, dis, ...)."""

    def __init__(self, id: str, name: str, created: float, image_ref: str, image_id: str, config: dict,
                 host_config: dict, network_settings: dict | None = None, mounts: list | None = None,
                 state: dict | None = None, restart_count: int = 0, run_id: str = "") -> None:
        self.id, self.name, self.created, self.image_ref, self.image_id = id, name, created, image_ref, image_id
        self.config, self.host_config = config, host_config
        self.network_settings = {} if network_settings is None else network_settings
        self.mounts = [] if mounts is None else mounts
        self.state = new_state() if state is None else state
        self.restart_count, self.run_id = restart_count, run_id

    def __getattr__(self, name: str):
        """A JSON field of a record read from the DB, decoded when first used: `ps` never
        reads HostConfig, `ps` of 300 containers saves a third of its decoding."""
        raw = self.__dict__.get("_raw")
        if raw is None or name not in raw:
            raise AttributeError(f"'Container' object has no attribute {name!r}")
        value = loads(raw[name])
        setattr(self, name, value)
        return value

    def fields(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Container) and self.fields() == other.fields()

    def __repr__(self) -> str:
        return f"Container(id={self.id!r}, name={self.name!r}, status={self.status!r})"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def status(self) -> str:
        return self.state["Status"]

    @property
    def running(self) -> bool:
        return self.state["Status"] in RUNNING


def _created(c: Container) -> float:
    return c.created


_JSON_FIELDS = ("config", "host_config", "network_settings", "mounts", "state")


class ContainerStore:
    def __init__(self, db: MetadataDB) -> None:
        self.db = db
        db.migrate("containers", MIGRATIONS)

    def _from_row(self, row) -> Container:
        """The row's record, its JSON fields left as text until used (Container.__getattr__)."""
        c = Container.__new__(Container)
        d = dict(row)
        c._raw = {f: d.pop(f) for f in _JSON_FIELDS}
        c.restart_count, c.run_id = 0, ""  # a row from before their columns
        c.__dict__.update(d)
        return c

    def insert(self, c: Container) -> None:
        import json

        d = c.fields()
        for f in _JSON_FIELDS:
            d[f] = json.dumps(d[f])
        with self.db.write() as conn:
            if conn.execute("SELECT id FROM containers WHERE name=?", (c.name,)).fetchone():
                other = conn.execute("SELECT id FROM containers WHERE name=?", (c.name,)).fetchone()[0]
                raise Conflict(f'Conflict. The container name "/{c.name}" is already in use by container "{other}". '
                               "You have to remove (or rename) that container to be able to reuse that name.")
            conn.execute(f"INSERT INTO containers({', '.join(d)}) VALUES ({', '.join('?' * len(d))})", tuple(d.values()))

    def save(self, c: Container, *fields: str) -> None:
        import json

        fields = fields or (*_JSON_FIELDS, "restart_count", "name")
        values = [json.dumps(getattr(c, f)) if f in _JSON_FIELDS else getattr(c, f) for f in fields]
        with self.db.write() as conn:
            conn.execute(f"UPDATE containers SET {', '.join(f + '=?' for f in fields)} WHERE id=?", (*values, c.id))

    def delete(self, container_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM containers WHERE id=?", (container_id,))

    def all(self, *, running: bool = False) -> list[Container]:
        """Newest first; `running`: only those with processes (the rest are not even decoded).
        Sorted here, not by ORDER BY: SQLite's sorter copies every whole row (2 kB each) into a
        temporary B-tree, 11 of the 15 ms this query takes at 1,000 containers."""
        where = f" WHERE json_extract(state, '$.Status') IN {RUNNING!r}" if running else ""
        cs = [self._from_row(r) for r in self.db.query(f"SELECT * FROM containers{where}")]
        cs.sort(key=_created, reverse=True)
        return cs

    def find(self, ref: str) -> Container | None:
        """By full ID, name (with or without `/`), or unique ID prefix, in docker's order."""
        ref = ref.lstrip("/") if ref.startswith("/") else ref
        row = self.db.one("SELECT * FROM containers WHERE id=?", (ref,)) or \
            self.db.one("SELECT * FROM containers WHERE name=?", (ref,))
        if row is None and ref and all(ch in "0123456789abcdef" for ch in ref):
            rows = self.db.query("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",))
            if len(rows) > 1:
                raise Conflict(f"multiple IDs found with provided prefix: {ref}")
            row = rows[0] if rows else None
        return self._from_row(row) if row else None

    def get(self, ref: str) -> Container:
        c = self.find(ref)
        if c is None:
            raise NotFound(f"No such container: {ref}")
        return c

    def names(self) -> set[str]:
        return {r[0] for r in self.db.query("SELECT name FROM containers")}

    def using_image(self, image_id: str) -> list[str]:
        return [r[0] for r in self.db.query("SELECT id FROM containers WHERE image_id=?", (image_id,))]
