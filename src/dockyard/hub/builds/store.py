"""The build tables of hub.db: rules per source, build arguments and secrets, and per build which
rule and ref queued it and whether somebody asked to cancel it.

They sit beside the hub state's tables (sources, builds) in the same database, migrated under
their own component name, so a git hook, the CLI and the server share them safely.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.hub.builds import rules
from dockyard.hub.builds.rules import Rule
from dockyard.hub.state import FINISHED, QUEUED, RUNNING, HubState

CANCELLED = "cancelled"
ENDED = (*FINISHED, CANCELLED)
MASK = "********"

MIGRATIONS = [
    """
    CREATE TABLE hub_rules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        repo TEXT NOT NULL,
        source_type TEXT NOT NULL,       -- branch | tag
        source TEXT NOT NULL,            -- a name, or /regular expression/
        dockerfile TEXT NOT NULL,
        context TEXT NOT NULL,
        tags TEXT NOT NULL               -- tag template: {sourceref}, {\\1}...
    );
    CREATE INDEX hub_rules_repo ON hub_rules(repo);
    CREATE TABLE hub_build_vars (
        repo TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        secret INTEGER NOT NULL,         -- 1: a build secret, never shown
        PRIMARY KEY (repo, name)
    );
    CREATE TABLE hub_build_meta (
        build INTEGER PRIMARY KEY,       -- hub_builds.id
        rule INTEGER NOT NULL,           -- hub_rules.id, 0 for a source's own rule
        ref_type TEXT NOT NULL,          -- branch | tag
        trigger TEXT NOT NULL,           -- push | webhook | manual (user)
        cancel TEXT NOT NULL DEFAULT ''  -- who asked to cancel the running build
    );
    """,
]


@dataclass(frozen=True)
class Var:
    name: str
    value: str
    secret: bool

    @property
    def shown(self) -> str:
        return MASK if self.secret else self.value


@dataclass(frozen=True)
class Meta:
    rule: int
    ref_type: str
    trigger: str
    cancel: str


class BuildBook:
    """Rules, variables and build metadata of every source, over the hub state's database."""

    def __init__(self, state: HubState) -> None:
        self.state = state
        self.db = state.db
        self.db.migrate("hub-builds", MIGRATIONS)

    # -- rules ----------------------------------------------------------------------------

    def rules(self, repo: str) -> list[Rule]:
        """The source's rules in order; a source without rules of its own builds its branch."""
        rows = self.db.query("SELECT * FROM hub_rules WHERE repo=? ORDER BY id", (repo,))
        if rows:
            return [Rule(**dict(r)) for r in rows]
        s = self.state.source(repo)
        return [Rule(0, repo, rules.BRANCH, s.branch, s.dockerfile, s.context, s.tag_rule)]

    def rule(self, repo: str, rule_id: int) -> Rule:
        for rule in self.rules(repo):
            if rule.id == rule_id:
                return rule
        raise NotFound(f"{repo} has no build rule {rule_id} (see `hub rules ls {repo}`)")

    def add_rule(self, repo: str, source_type: str, source: str, dockerfile: str = "Dockerfile",
                 context: str = ".", tags: str = "{sourceref}") -> Rule:
        """Append a rule; the first one added replaces the source's own branch rule."""
        rules.validate(source_type, source, dockerfile, context, tags)
        own = self.rules(repo)  # NotFound for a source that does not exist
        with self.db.write() as c:
            if own[0].id == 0:  # keep what the source built so far as an explicit rule
                r = own[0]
                c.execute("INSERT INTO hub_rules(repo, source_type, source, dockerfile, context, tags) VALUES (?,?,?,?,?,?)",
                          (repo, r.source_type, r.source, r.dockerfile, r.context, r.tags))
            cur = c.execute("INSERT INTO hub_rules(repo, source_type, source, dockerfile, context, tags) "
                            "VALUES (?,?,?,?,?,?)", (repo, source_type, source, dockerfile, context, tags))
            rule_id = int(cur.lastrowid)
        return self.rule(repo, rule_id)

    def remove_rule(self, repo: str, rule_id: int) -> None:
        current = self.rules(repo)
        if not any(r.id == rule_id and rule_id for r in current):
            raise NotFound(f"{repo} has no build rule {rule_id} (see `hub rules ls {repo}`)")
        if len(current) == 1:
            raise Conflict(f"rule {rule_id} is the last rule of {repo}: remove the source instead")
        with self.db.write() as c:
            c.execute("DELETE FROM hub_rules WHERE repo=? AND id=?", (repo, rule_id))

    # -- build arguments and secrets -------------------------------------------------------

    def set_var(self, repo: str, name: str, value: str, secret: bool) -> None:
        if not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise InvalidArgument(f"invalid variable name {name!r}: use letters, digits and _")
        if secret and not value:
            raise InvalidArgument(f"secret {name} is empty")
        self.state.source(repo)
        with self.db.write() as c:
            c.execute("INSERT OR REPLACE INTO hub_build_vars VALUES (?,?,?,?)", (repo, name, value, int(secret)))

    def remove_var(self, repo: str, name: str) -> None:
        with self.db.write() as c:
            if c.execute("DELETE FROM hub_build_vars WHERE repo=? AND name=?", (repo, name)).rowcount == 0:
                raise NotFound(f"{repo} has no build variable {name}")

    def vars(self, repo: str) -> list[Var]:
        rows = self.db.query("SELECT name, value, secret FROM hub_build_vars WHERE repo=? ORDER BY name", (repo,))
        return [Var(r["name"], r["value"], bool(r["secret"])) for r in rows]

    def forget(self, repo: str) -> None:
        """Drop a removed source's rules and variables (its builds stay in the history)."""
        with self.db.write() as c:
            c.execute("DELETE FROM hub_rules WHERE repo=?", (repo,))
            c.execute("DELETE FROM hub_build_vars WHERE repo=?", (repo,))

    # -- builds ---------------------------------------------------------------------------

    def enqueue(self, repo: str, sha: str, ref_name: str, rule: Rule, trigger: str) -> int:
        """Queue a build and record its rule in one transaction, so the worker never sees it without."""
        with self.db.write() as c:
            cur = c.execute("INSERT INTO hub_builds(source, sha, branch, status, created) VALUES (?,?,?,?,?)",
                            (repo, sha, ref_name, QUEUED, time.time()))
            build_id = int(cur.lastrowid)
            c.execute("INSERT INTO hub_build_meta(build, rule, ref_type, trigger) VALUES (?,?,?,?)",
                      (build_id, rule.id, rule.source_type, trigger))
        return build_id

    def meta(self, build_id: int) -> Meta:
        row = self.db.one("SELECT rule, ref_type, trigger, cancel FROM hub_build_meta WHERE build=?", (build_id,))
        return Meta(**dict(row)) if row else Meta(0, rules.BRANCH, "push", "")

    def rule_builds(self, repo: str, limit: int = 10) -> dict[int, list]:
        """The latest builds of each rule of `repo`, by rule id."""
        from dockyard.hub.state import Build

        out: dict[int, list] = {}
        rows = self.db.query("SELECT b.*, COALESCE(m.rule, 0) AS rule_id FROM hub_builds b "
                             "LEFT JOIN hub_build_meta m ON m.build = b.id WHERE b.source=? ORDER BY b.id DESC LIMIT 500",
                             (repo,))
        for row in rows:
            d = dict(row)
            shown = out.setdefault(d.pop("rule_id"), [])
            if len(shown) < limit:
                shown.append(Build(**d))
        return out

    def cancel(self, build_id: int, who: str) -> str:
        """Cancel a queued build at once, or ask the worker to stop a running one; returns the status."""
        build = self.state.build(build_id)
        with self.db.write() as c:
            if c.execute("UPDATE hub_builds SET status=?, reason=?, finished=? WHERE id=? AND status=?",
                         (CANCELLED, f"cancelled by {who}", time.time(), build_id, QUEUED)).rowcount:
                return CANCELLED
            c.execute("INSERT OR IGNORE INTO hub_build_meta(build, rule, ref_type, trigger) VALUES (?,0,?,?)",
                      (build_id, rules.BRANCH, "push"))
            if c.execute("UPDATE hub_build_meta SET cancel=? WHERE build=? AND build IN "
                         "(SELECT id FROM hub_builds WHERE status=?)", (who, build_id, RUNNING)).rowcount:
                return RUNNING
        raise Conflict(f"build {build_id} already {build.status}: only queued or running builds can be cancelled")

    def cancel_requests(self, build_ids: list[int]) -> dict[int, str]:
        """Which of these (running) builds somebody asked to cancel, and who."""
        if not build_ids:
            return {}
        marks = ",".join("?" * len(build_ids))
        rows = self.db.query(f"SELECT build, cancel FROM hub_build_meta WHERE cancel != '' AND build IN ({marks})",
                             tuple(build_ids))
        return {r["build"]: r["cancel"] for r in rows}
