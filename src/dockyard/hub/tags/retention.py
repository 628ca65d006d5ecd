"""Retention rules: per repository, keep the N most recently pushed tags matching a pattern
(shell-style, `v*`, `main-*`); older matching tags are deleted. Tags no rule matches are kept.

Rules live in hub.db under their own component; applying them deletes tag links only, the
blobs they free go with the next garbage collection (see dockyard.hub.tags.collector).
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, NotFound
from dockyard.hub.state import HubState
from dockyard.registry import errors as registry_errors
from dockyard.registry import names
from dockyard.registry.storage import RegistryStorage

ACTOR = "retention rule"  # who the audit log says deleted what a rule expired: not a possible user name
MIGRATIONS = [
    """
    CREATE TABLE hub_retention (
        repo TEXT NOT NULL,
        pattern TEXT NOT NULL,           -- shell-style tag pattern
        keep INTEGER NOT NULL,           -- how many of the newest matching tags stay
        PRIMARY KEY (repo, pattern)
    );
    """,
]


@dataclass(frozen=True)
class Retention:
    repo: str
    pattern: str
    keep: int


class RetentionRules:
    def __init__(self, state: HubState) -> None:
        self.db = state.db
        self.db.migrate("hub-tags", MIGRATIONS)

    def set(self, repo: str, pattern: str, keep: int) -> Retention:
        if not names.is_valid_name(repo):
            raise InvalidArgument(f"invalid repository name {repo!r}")
        if not pattern.strip():
            raise InvalidArgument("a retention rule needs a tag pattern, e.g. 'v*' or '*'")
        if keep < 1:
            raise InvalidArgument(f"keep must be at least 1, not {keep} (delete the repository's tags instead)")
        with self.db.write() as c:
            c.execute("INSERT OR REPLACE INTO hub_retention VALUES (?,?,?)", (repo, pattern, keep))
        return Retention(repo, pattern, keep)

    def remove(self, repo: str, pattern: str) -> None:
        with self.db.write() as c:
            if c.execute("DELETE FROM hub_retention WHERE repo=? AND pattern=?", (repo, pattern)).rowcount == 0:
                raise NotFound(f"{repo} has no retention rule for {pattern!r}")

    def rules(self, repo: str | None = None) -> list[Retention]:
        if repo is None:
            rows = self.db.query("SELECT * FROM hub_retention ORDER BY repo, pattern")
        else:
            rows = self.db.query("SELECT * FROM hub_retention WHERE repo=? ORDER BY pattern", (repo,))
        return [Retention(r["repo"], r["pattern"], r["keep"]) for r in rows]


def expired(storage: RegistryStorage, rule: Retention) -> list[str]:
    """The tags `rule` deletes: matching ones beyond the `keep` most recently pushed."""
    tags_dir = storage.repo_dir(rule.repo) / "_manifests" / "tags"
    stamped = []
    for tag in storage.tags(rule.repo):
        if fnmatch.fnmatchcase(tag, rule.pattern):
            try:
                stamped.append((os.stat(tags_dir / tag).st_mtime_ns, tag))
            except FileNotFoundError:
                continue
    stamped.sort(reverse=True)
    return [tag for _, tag in stamped[rule.keep:]]


def apply(storage: RegistryStorage, rules: RetentionRules, repo: str | None = None) -> list[tuple[str, str]]:
    """Delete every tag the rules (of `repo`, or all) expire, each in the audit log as deleted by
    `retention rule`; returns the (repo, tag) pairs deleted."""
    from dockyard.hub.accounts.store import Accounts

    accounts = Accounts(rules.db)
    deleted = []
    for rule in rules.rules(repo):
        for tag in expired(storage, rule):
            try:
                storage.delete_tag(rule.repo, tag)
            except registry_errors.RegistryError:
                continue  # deleted meanwhile
            accounts.audit(ACTOR, "delete", rule.repo,
                           json.dumps({"tag": tag, "kind": "retention", "rule": rule.pattern, "keep": rule.keep}))
            deleted.append((rule.repo, tag))
    return deleted
