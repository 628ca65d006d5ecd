"""The hub's own state beside the registry: build sources, the build queue and private repositories.

    <root>/                      the registry's storage (blobs/, repositories/, uploads/)
    <root>/hub/hub.db            sources, builds, private flags (SQLite, shared by every hub process)
    <root>/hub/logs/<id>.log     one build's output
    <root>/hub/engine/           the dockyard root builds run in (base images, build cache)

SQLite rather than a JSON file because a git hook, the CLI and the server all write to it at
once: a queued build must never be lost to a concurrent rewrite.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.registry import names
from dockyard.store.metadata import MetadataDB

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)
RESTARTED = "hub restarted during the build"

MIGRATIONS = [
    """
    CREATE TABLE hub_sources (
        repo TEXT PRIMARY KEY,           -- registry repository the builds are pushed to
        git_url TEXT NOT NULL,
        branch TEXT NOT NULL,
        dockerfile TEXT NOT NULL,        -- path inside the checkout
        context TEXT NOT NULL,           -- directory inside the checkout
        tag_rule TEXT NOT NULL,          -- comma-separated tags; {branch} and {short_sha} expand
        secret TEXT NOT NULL DEFAULT '', -- webhook HMAC key; '' refuses every webhook
        created REAL NOT NULL
    );
    CREATE TABLE hub_builds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        sha TEXT NOT NULL,
        branch TEXT NOT NULL,
        status TEXT NOT NULL,            -- queued | running | succeeded | failed
        reason TEXT NOT NULL DEFAULT '', -- why it failed, one line
        failing_line TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL DEFAULT '',-- commit subject
        tags TEXT NOT NULL DEFAULT '',   -- comma-separated tags pushed
        digest TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        started REAL,
        finished REAL
    );
    CREATE INDEX hub_builds_status ON hub_builds(status, source);
    CREATE TABLE hub_private (repo TEXT PRIMARY KEY);
    """,
]


@dataclass(frozen=True)
class Source:
    repo: str
    git_url: str
    branch: str
    dockerfile: str
    context: str
    tag_rule: str
    secret: str


@dataclass(frozen=True)
class Build:
    id: int
    source: str
    sha: str
    branch: str
    status: str
    reason: str
    failing_line: str
    message: str
    tags: str
    digest: str
    created: float
    started: float | None
    finished: float | None

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


class HubState:
    """Typed access to hub.db; every method is one short transaction, safe across processes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "hub"
        self.logs = self.dir / "logs"
        self.engine_root = self.dir / "engine"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.db = MetadataDB(self.dir / "hub.db")
        self.db.migrate("hub", MIGRATIONS)

    # -- sources --------------------------------------------------------------------------

    def add_source(self, source: Source) -> None:
        if not names.is_valid_name(source.repo):
            raise InvalidArgument(f"invalid repository name {source.repo!r}: use lowercase letters, digits, '.', '_', '-' and '/'")
        with self.db.write() as c:
            if c.execute("SELECT 1 FROM hub_sources WHERE repo=?", (source.repo,)).fetchone():
                raise Conflict(f"a source for {source.repo} already exists: remove it first with `hub source rm {source.repo}`")
            c.execute("INSERT INTO hub_sources VALUES (?,?,?,?,?,?,?,?)",
                      (source.repo, source.git_url, source.branch, source.dockerfile, source.context,
                       source.tag_rule, source.secret, time.time()))

    def sources(self) -> list[Source]:
        return [_source(r) for r in self.db.query("SELECT * FROM hub_sources ORDER BY repo")]

    def source(self, repo: str) -> Source:
        row = self.db.one("SELECT * FROM hub_sources WHERE repo=?", (repo,))
        if row is None:
            raise NotFound(f"no build source for {repo!r} (see `hub source ls`)")
        return _source(row)

    def remove_source(self, repo: str) -> None:
        with self.db.write() as c:
            if c.execute("DELETE FROM hub_sources WHERE repo=?", (repo,)).rowcount == 0:
                raise NotFound(f"no build source for {repo!r} (see `hub source ls`)")
            c.execute("UPDATE hub_builds SET status=?, reason=?, finished=? WHERE source=? AND status=?",
                      (FAILED, "source removed before the build started", time.time(), repo, QUEUED))

    # -- builds ---------------------------------------------------------------------------

    def enqueue(self, repo: str, sha: str, branch: str) -> int:
        self.source(repo)
        with self.db.write() as c:
            cur = c.execute("INSERT INTO hub_builds(source, sha, branch, status, created) VALUES (?,?,?,?,?)",
                            (repo, sha, branch, QUEUED, time.time()))
            return int(cur.lastrowid)

    def builds(self, source: str | None = None, limit: int = 100) -> list[Build]:
        if source is None:
            rows = self.db.query("SELECT * FROM hub_builds ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.db.query("SELECT * FROM hub_builds WHERE source=? ORDER BY id DESC LIMIT ?", (source, limit))
        return [Build(**dict(r)) for r in rows]

    def build(self, build_id: int) -> Build:
        row = self.db.one("SELECT * FROM hub_builds WHERE id=?", (build_id,))
        if row is None:
            raise NotFound(f"no build {build_id}")
        return Build(**dict(row))

    def claim_next(self) -> Build | None:
        """Mark the oldest queued build of a source with nothing running as running, and return it."""
        with self.db.write() as c:
            row = c.execute(
                "SELECT id FROM hub_builds b WHERE status=? AND NOT EXISTS "
                "(SELECT 1 FROM hub_builds r WHERE r.source=b.source AND r.status=?) ORDER BY id LIMIT 1",
                (QUEUED, RUNNING),
            ).fetchone()
            if row is None:
                return None
            c.execute("UPDATE hub_builds SET status=?, started=? WHERE id=?", (RUNNING, time.time(), row[0]))
        return self.build(row[0])

    def update(self, build_id: int, **fields: str) -> None:
        """Record what a running build learned (commit message, tags, digest)."""
        allowed = {"message", "tags", "digest"}
        if not set(fields) <= allowed:
            raise InvalidArgument(f"cannot update build fields {sorted(set(fields) - allowed)}")
        with self.db.write() as c:
            for key, value in fields.items():
                c.execute(f"UPDATE hub_builds SET {key}=? WHERE id=?", (value, build_id))

    def finish(self, build_id: int, status: str, reason: str = "", failing_line: str = "") -> None:
        with self.db.write() as c:
            c.execute("UPDATE hub_builds SET status=?, reason=?, failing_line=?, finished=? WHERE id=?",
                      (status, reason, failing_line, time.time(), build_id))

    def fail_interrupted(self) -> int:
        """Builds left running by a hub that died cannot be resumed: mark them failed; returns how many."""
        with self.db.write() as c:
            return c.execute("UPDATE hub_builds SET status=?, reason=?, finished=? WHERE status=?",
                             (FAILED, RESTARTED, time.time(), RUNNING)).rowcount

    def log_path(self, build_id: int) -> Path:
        return self.logs / f"{build_id}.log"

    # -- private repositories -------------------------------------------------------------

    def set_private(self, repo: str, private: bool) -> None:
        if not names.is_valid_name(repo):
            raise InvalidArgument(f"invalid repository name {repo!r}")
        with self.db.write() as c:
            if private:
                c.execute("INSERT OR IGNORE INTO hub_private VALUES (?)", (repo,))
            else:
                c.execute("DELETE FROM hub_private WHERE repo=?", (repo,))

    def private_repos(self) -> frozenset[str]:
        return frozenset(r[0] for r in self.db.query("SELECT repo FROM hub_private"))


def _source(row) -> Source:
    return Source(row["repo"], row["git_url"], row["branch"], row["dockerfile"], row["context"],
                  row["tag_rule"], row["secret"])
