"""Webhooks and their deliveries in hub.db (own component `hub-webhooks`)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, NotFound
from dockyard.hub.state import HubState
from dockyard.registry import names

EVENTS = ("push", "build")
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
HISTORY = 50  # deliveries kept per webhook

MIGRATIONS = [
    """
    CREATE TABLE hub_webhooks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        repo TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,            -- HMAC-SHA256 key of X-Hub-Signature-256; never shown
        events TEXT NOT NULL,            -- comma-separated: push, build
        created REAL NOT NULL
    );
    CREATE INDEX hub_webhooks_repo ON hub_webhooks(repo);
    CREATE TABLE hub_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        hook INTEGER NOT NULL,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,            -- pending | delivered | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        response TEXT NOT NULL DEFAULT '', -- last answer: "HTTP 200" or the connection error
        created REAL NOT NULL,
        finished REAL
    );
    CREATE INDEX hub_deliveries_hook ON hub_deliveries(hook, id);
    """,
]


@dataclass(frozen=True)
class Webhook:
    id: int
    repo: str
    url: str
    secret: str
    events: str
    created: float

    def wants(self, event: str) -> bool:
        return event in self.events.split(",")


@dataclass(frozen=True)
class Delivery:
    id: int
    hook: int
    event: str
    payload: str
    status: str
    attempts: int
    response: str
    created: float
    finished: float | None


class Webhooks:
    def __init__(self, state: HubState) -> None:
        self.db = state.db
        self.db.migrate("hub-webhooks", MIGRATIONS)

    def add(self, repo: str, url: str, secret: str, events: list[str]) -> Webhook:
        if not names.is_valid_name(repo):
            raise InvalidArgument(f"invalid repository name {repo!r}")
        if not url.startswith(("http://", "https://")) or len(url) > 2000:
            raise InvalidArgument(f"webhook URL {url[:80]!r} must start with http:// or https://")
        unknown = set(events) - set(EVENTS)
        if unknown or not events:
            raise InvalidArgument(f"webhook events must be among {', '.join(EVENTS)}")
        with self.db.write() as c:
            cur = c.execute("INSERT INTO hub_webhooks(repo, url, secret, events, created) VALUES (?,?,?,?,?)",
                            (repo, url, secret, ",".join(e for e in EVENTS if e in events), time.time()))
            hook_id = int(cur.lastrowid)
        return self.get(hook_id)

    def get(self, hook_id: int) -> Webhook:
        row = self.db.one("SELECT * FROM hub_webhooks WHERE id=?", (hook_id,))
        if row is None:
            raise NotFound(f"no webhook {hook_id}")
        return Webhook(**dict(row))

    def remove(self, repo: str, hook_id: int) -> None:
        with self.db.write() as c:
            if c.execute("DELETE FROM hub_webhooks WHERE id=? AND repo=?", (hook_id, repo)).rowcount == 0:
                raise NotFound(f"{repo} has no webhook {hook_id}")
            c.execute("DELETE FROM hub_deliveries WHERE hook=?", (hook_id,))

    def of(self, repo: str) -> list[Webhook]:
        return [Webhook(**dict(r)) for r in self.db.query("SELECT * FROM hub_webhooks WHERE repo=? ORDER BY id", (repo,))]

    def record(self, hook: Webhook, event: str, payload: dict) -> int:
        """A new pending delivery of `payload`; the oldest beyond HISTORY go."""
        with self.db.write() as c:
            cur = c.execute("INSERT INTO hub_deliveries(hook, event, payload, status, created) VALUES (?,?,?,?,?)",
                            (hook.id, event, json.dumps(payload), PENDING, time.time()))
            c.execute("DELETE FROM hub_deliveries WHERE hook=? AND id <= ?", (hook.id, int(cur.lastrowid) - HISTORY))
            return int(cur.lastrowid)

    def attempt(self, delivery_id: int, response: str, status: str) -> None:
        with self.db.write() as c:
            c.execute("UPDATE hub_deliveries SET attempts=attempts+1, response=?, status=?, finished=? WHERE id=?",
                      (response, status, time.time() if status != PENDING else None, delivery_id))

    def delivery(self, delivery_id: int) -> Delivery:
        row = self.db.one("SELECT * FROM hub_deliveries WHERE id=?", (delivery_id,))
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        return Delivery(**dict(row))

    def deliveries(self, repo: str, limit: int = 50) -> list[Delivery]:
        rows = self.db.query("SELECT d.* FROM hub_deliveries d JOIN hub_webhooks h ON h.id = d.hook "
                             "WHERE h.repo=? ORDER BY d.id DESC LIMIT ?", (repo, limit))
        return [Delivery(**dict(r)) for r in rows]
