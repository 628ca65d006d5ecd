"""The event log behind `dockyard events` and the API's /events: one table every process appends to.

Daemonless means no process sees every state change as it happens, so changes are recorded
in the shared DB and readers poll it by sequence number, which gives `since`/`until` for free.
"""

from __future__ import annotations

import time

from dockyard.jsonread import loads
from dockyard.jsonwrite import dumps

TYPE_CHECKING = False  # `top` records its event before click loads (cli/readonly.py): no typing, json, sqlite3
if TYPE_CHECKING:
    from collections.abc import Iterator

    from dockyard.store.metadata import MetadataDB

MIGRATIONS = [
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time_nano INTEGER NOT NULL,
        type TEXT NOT NULL,          -- container | image | volume | network | builder
        action TEXT NOT NULL,        -- create, start, die, stop, destroy, pull, tag, delete, ...
        actor_id TEXT NOT NULL,
        attributes TEXT NOT NULL     -- JSON object: name, image, exitCode, ...
    );
    CREATE INDEX events_time ON events(time_nano);
    """,
]
KEEP = 10_000  # events kept; older ones are dropped as new ones arrive


class EventLog:
    def __init__(self, db: MetadataDB) -> None:
        self.db = db
        db.migrate("events", MIGRATIONS)

    def emit(self, type: str, action: str, actor_id: str, /, **attributes: str) -> None:
        with self.db.write() as c:
            append(c, type, action, actor_id, attributes)

    def read(self, *, after_seq: int = 0, since_nano: int = 0, until_nano: int | None = None) -> Iterator[dict]:
        """Events in order, as docker's events API shapes them, each with its `seq` for polling."""
        sql = "SELECT * FROM events WHERE seq > ? AND time_nano >= ?"
        args: list = [after_seq, since_nano]
        if until_nano is not None:
            sql += " AND time_nano <= ?"
            args.append(until_nano)
        for row in self.db.query(sql + " ORDER BY seq", tuple(args)):
            attrs = loads(row["attributes"])
            event = {
                "seq": row["seq"],
                "Type": row["type"], "Action": row["action"],
                "Actor": {"ID": row["actor_id"], "Attributes": attrs},
                "scope": "local",
                "time": row["time_nano"] // 1_000_000_000, "timeNano": row["time_nano"],
            }
            if row["type"] in ("container", "image"):  # the pre-1.22 fields dockerd still sends for these
                event.update(status=row["action"], id=row["actor_id"])
                if row["type"] == "container" and "image" in attrs:
                    event["from"] = attrs["image"]
            yield event

    def last_seq(self) -> int:
        row = self.db.one("SELECT MAX(seq) FROM events")
        return row[0] or 0


def append(conn, type: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
    """Add an event on `conn` (an SQLite connection, in the caller's write transaction),
    dropping the oldest beyond KEEP every thousandth."""
    cur = conn.execute("INSERT INTO events(time_nano, type, action, actor_id, attributes) VALUES (?,?,?,?,?)",
                       (time.time_ns(), type, action, actor_id, dumps(attributes)))
    if cur.lastrowid % 1000 == 0:
        conn.execute("DELETE FROM events WHERE seq <= ?", (cur.lastrowid - KEEP,))


def matches(event: dict, wanted: dict[str, list[str]]) -> bool:
    """Values of one filter are alternatives; different filters must all hold."""
    actor = event["Actor"]
    attrs = actor.get("Attributes") or {}
    typ = event["Type"]

    def named(values: list[str]) -> bool:  # moby's fuzzy match: whatever the event's type
        return any(actor["ID"].startswith(v) or attrs.get("name", "").startswith(v) for v in values)

    for key, values in wanted.items():
        if key == "type" and typ not in values:
            return False
        if key in ("event", "action") and not any(event["Action"] == v or event["Action"].startswith(v + ":")
                                                   for v in values):
            return False
        if key in ("container", "volume", "network", "daemon") and not named(values):
            return False
        if key == "image" and not _image_matches(actor["ID"], attrs.get("name" if typ == "image" else "image", ""),
                                                 values):
            return False
        if key == "label" and not all(
                (attrs.get(v.split("=", 1)[0]) == v.split("=", 1)[1]) if "=" in v else v in attrs for v in values):
            return False
        if key == "scope" and "local" not in values:
            return False
    return True


def _image_matches(actor_id: str, name: str, values: list[str]) -> bool:
    """moby's image filter: the event's ID or image name, as given or without its tag or
    digest (`busybox` matches busybox:1.36), exactly."""
    def untagged(ref: str) -> str:
        ref = ref.split("@", 1)[0]
        return ref[:ref.rindex(":")] if ":" in ref.rsplit("/", 1)[-1] else ref
    return any(v in (actor_id, name, untagged(actor_id), untagged(name)) for v in values)
