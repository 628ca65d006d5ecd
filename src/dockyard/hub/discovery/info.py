"""The repositories the hub knows, with what people wrote about them and how often they are pulled.

The registry's storage says which repositories exist; walking it for every search is too slow
with thousands of them, so hub.db keeps an index that pushes add to and that is brought in line
with the storage when the repository list is shown (and at start). Descriptions and READMEs
outlive a repository's tags: a repository pushed again under the same name gets them back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable

from dockyard.errors import InvalidArgument
from dockyard.store.metadata import MetadataDB

MAX_DESCRIPTION = 100  # Docker Hub's limit for the short description
MAX_README = 25000     # and for the full description

MIGRATIONS = [
    """
    CREATE TABLE disc_repos (
        repo TEXT PRIMARY KEY,
        present INTEGER NOT NULL DEFAULT 1,     -- 0: no longer in the registry's storage
        description TEXT NOT NULL DEFAULT '',
        readme TEXT NOT NULL DEFAULT '',        -- Markdown as written on the page ('' : the git source's)
        updated REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE disc_pulls (
        repo TEXT NOT NULL,
        tag TEXT NOT NULL,
        count INTEGER NOT NULL,
        last REAL NOT NULL,
        PRIMARY KEY (repo, tag)
    );
    CREATE TABLE disc_contents (digest TEXT PRIMARY KEY, doc TEXT NOT NULL);  -- contents.describe() of an image
    CREATE TABLE disc_generation (gen INTEGER NOT NULL);  -- bumped by every change of the index
    INSERT INTO disc_generation VALUES (0);
    """,
    """
    CREATE TABLE disc_stars (repo TEXT NOT NULL, user TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (repo, user));
    """,
]


@dataclass(frozen=True)
class Texts:
    description: str = ""
    readme: str = ""


@dataclass(frozen=True)
class Pulls:
    count: int
    last: float


_BUMP = "UPDATE disc_generation SET gen=gen+1"


class RepoInfo:
    """Searches run over a copy of the index in memory (names and lower-cased descriptions),
    reloaded when the index's generation moved, whichever process moved it."""

    def __init__(self, db: MetadataDB) -> None:
        self.db = db
        db.migrate("hub_discovery", MIGRATIONS)
        self._generation = -1
        self._rows: list[tuple[str, str, str]] = []  # (repo, description, description lower-cased), by name

    # -- the index ------------------------------------------------------------------------

    def touch(self, repo: str) -> None:
        """`repo` exists (a push just landed in it)."""
        with self.db.write() as c:
            changed = c.execute("INSERT OR IGNORE INTO disc_repos(repo) VALUES (?)", (repo,)).rowcount
            changed += c.execute("UPDATE disc_repos SET present=1 WHERE repo=? AND present=0", (repo,)).rowcount
            if changed:
                c.execute(_BUMP)

    def sync(self, present: Iterable[str]) -> None:
        """Make the index list exactly the repositories `present` (the storage's list); writes only on change."""
        present = set(present)
        indexed = {r[0] for r in self.db.query("SELECT repo FROM disc_repos WHERE present=1")}
        if present == indexed:
            return
        with self.db.write() as c:
            c.executemany("INSERT INTO disc_repos(repo) VALUES (?) ON CONFLICT(repo) DO UPDATE SET present=1",
                          [(r,) for r in present - indexed])
            c.executemany("UPDATE disc_repos SET present=0 WHERE repo=?", [(r,) for r in indexed - present])
            c.execute(_BUMP)

    def descriptions(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.query("SELECT repo, description FROM disc_repos WHERE description != ''")}

    def matching(self, term: str) -> list[tuple[str, str]]:
        """(repo, description) of every present repository whose name or description contains
        `term` (case-insensitive), best first: the name itself or its last component, then
        names containing it, then descriptions."""
        q = term.strip().lower()
        named, exact, described = [], [], []
        for repo, description, lowered in self._index():
            if q in repo:
                (exact if repo == q or repo.endswith("/" + q) else named).append((repo, description))
            elif q in lowered:
                described.append((repo, description))
        return exact + named + described

    def _index(self) -> list[tuple[str, str, str]]:
        generation = self.db.one("SELECT gen FROM disc_generation")[0]
        if generation != self._generation:
            rows = self.db.query("SELECT repo, description FROM disc_repos WHERE present=1 ORDER BY repo")
            self._rows = [(r[0], r[1], r[1].lower()) for r in rows]
            self._generation = generation
        return self._rows

    # -- descriptions ---------------------------------------------------------------------

    def texts(self, repo: str) -> Texts:
        row = self.db.one("SELECT description, readme FROM disc_repos WHERE repo=?", (repo,))
        return Texts() if row is None else Texts(row[0], row[1])

    def set_texts(self, repo: str, description: str, readme: str) -> None:
        description = " ".join(description.split())
        readme = readme.replace("\r\n", "\n")
        if len(description) > MAX_DESCRIPTION:
            raise InvalidArgument(f"the short description may have at most {MAX_DESCRIPTION} characters")
        if len(readme) > MAX_README:
            raise InvalidArgument(f"the README may have at most {MAX_README} characters")
        with self.db.write() as c:
            c.execute("INSERT INTO disc_repos(repo, description, readme, updated) VALUES (?,?,?,?) "
                      "ON CONFLICT(repo) DO UPDATE SET description=excluded.description, readme=excluded.readme, "
                      "updated=excluded.updated", (repo, description, readme, time.time()))
            c.execute(_BUMP)

    # -- pulls ----------------------------------------------------------------------------

    def pulled(self, repo: str, tag: str) -> None:
        with self.db.write() as c:
            c.execute("INSERT INTO disc_pulls VALUES (?,?,1,?) ON CONFLICT(repo, tag) "
                      "DO UPDATE SET count=count+1, last=excluded.last", (repo, tag, time.time()))

    def pulls(self, repo: str) -> dict[str, Pulls]:
        return {r[0]: Pulls(r[1], r[2]) for r in self.db.query("SELECT tag, count, last FROM disc_pulls WHERE repo=?", (repo,))}

    # -- stars ----------------------------------------------------------------------------

    def star(self, repo: str, user: str, starred: bool) -> None:
        with self.db.write() as c:
            if starred:
                c.execute("INSERT OR IGNORE INTO disc_stars VALUES (?,?,?)", (repo, user, time.time()))
            else:
                c.execute("DELETE FROM disc_stars WHERE repo=? AND user=?", (repo, user))

    def has_starred(self, repo: str, user: str | None) -> bool:
        return user is not None and self.db.one("SELECT 1 FROM disc_stars WHERE repo=? AND user=?", (repo, user)) is not None

    def star_counts(self) -> dict[str, int]:
        """Stars per repository."""
        return {r[0]: r[1] for r in self.db.query("SELECT repo, count(*) FROM disc_stars GROUP BY repo")}

    def star_count(self, repo: str) -> int:
        return self.db.one("SELECT count(*) FROM disc_stars WHERE repo=?", (repo,))[0]

    # -- image contents -------------------------------------------------------------------

    def contents(self, digest: str) -> dict | None:
        row = self.db.one("SELECT doc FROM disc_contents WHERE digest=?", (digest,))
        return None if row is None else json.loads(row[0])

    def keep_contents(self, digest: str, doc: dict) -> None:
        with self.db.write() as c:
            c.execute("INSERT OR REPLACE INTO disc_contents VALUES (?,?)", (digest, json.dumps(doc)))
