"""The accounts' tables in hub.db: users, organizations, teams, grants, tokens, sessions, audit.

Users and organizations share one namespace (a repository `NAME/...` belongs to the account
NAME). Passwords are bcrypt hashes; tokens and session ids are random and kept only as their
SHA-256, so a copy of hub.db gives no way in. Every change of who may do what is written to
the audit log in the same transaction as the change.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass

from dockyard.errors import Conflict, Forbidden, InvalidArgument, NotFound
from dockyard.hub.accounts import policy, totp
from dockyard.registry import names
from dockyard.store.metadata import MetadataDB

TOKEN_PREFIX = "dyp_"
SESSION_TTL = 14 * 24 * 3600.0
RESET_TTL = 24 * 3600.0
_ACCOUNT_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
MAX_ACCOUNT = 39

MIGRATIONS = [
    """
    CREATE TABLE acct_users (
        name TEXT PRIMARY KEY,
        password TEXT NOT NULL,              -- bcrypt hash
        site_admin INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE TABLE acct_orgs (name TEXT PRIMARY KEY, created REAL NOT NULL);
    CREATE TABLE acct_teams (org TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (org, name));
    CREATE TABLE acct_members (org TEXT NOT NULL, team TEXT NOT NULL, user TEXT NOT NULL,
                               PRIMARY KEY (org, team, user));
    CREATE INDEX acct_members_user ON acct_members(user);
    CREATE TABLE acct_grants (
        repo TEXT NOT NULL,
        grantee TEXT NOT NULL,               -- 'user:NAME' or 'team:ORG/TEAM'
        level INTEGER NOT NULL,              -- policy.READ | WRITE | ADMIN
        PRIMARY KEY (repo, grantee)
    );
    CREATE TABLE acct_tokens (
        id TEXT PRIMARY KEY,                 -- shown to the user; the secret is not kept
        user TEXT NOT NULL,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,           -- sha256 of the secret
        scope TEXT NOT NULL,
        created REAL NOT NULL,
        last_used REAL,
        revoked REAL,
        expires REAL                         -- NULL: never
    );
    CREATE TABLE acct_sessions (hash TEXT PRIMARY KEY, user TEXT NOT NULL, expires REAL NOT NULL);
    CREATE TABLE acct_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,                 -- user name, or '' for anonymous / the local CLI
        action TEXT NOT NULL,                -- push, delete, grant, revoke, visibility, token...
        repo TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX acct_audit_repo ON acct_audit(repo, id);
    """,
    """
    ALTER TABLE acct_users ADD COLUMN totp TEXT;                          -- base32 secret, NULL: no second factor
    ALTER TABLE acct_users ADD COLUMN totp_step INTEGER NOT NULL DEFAULT 0; -- the last time step used
    CREATE TABLE acct_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE acct_resets (hash TEXT PRIMARY KEY, user TEXT NOT NULL, expires REAL NOT NULL);
    """,
]


@dataclass(frozen=True)
class Token:
    id: str
    user: str
    name: str
    scope: str
    created: float
    last_used: float | None
    revoked: float | None
    expires: float | None = None

    @property
    def status(self) -> str:
        if self.revoked:
            return "revoked"
        return "expired" if self.expires is not None and self.expires <= time.time() else "active"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    repo: str
    detail: str


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_account_name(name: str, what: str = "account") -> str:
    if not (0 < len(name) <= MAX_ACCOUNT and _ACCOUNT_RE.match(name)):
        raise InvalidArgument(f"invalid {what} name {name!r}: use 1 to {MAX_ACCOUNT} lowercase letters, digits, "
                              "'-' and '_' (not at either end)")
    return name


def check_repo(repo: str) -> str:
    if not names.is_valid_name(repo):
        raise InvalidArgument(f"invalid repository name {repo!r}")
    return repo


def hash_password(password: str, rounds: int = 12) -> str:
    import bcrypt

    if len(password) < 8:
        raise InvalidArgument("a password needs at least 8 characters")
    if len(password.encode()) > 72:
        raise InvalidArgument("a password may have at most 72 bytes (bcrypt's limit)")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@functools.lru_cache(maxsize=1)
def _unknown_user_hash() -> bytes:
    import bcrypt

    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt())


class Accounts:
    """Every method is one short transaction on hub.db, safe across the server and the CLI."""

    def __init__(self, db: MetadataDB) -> None:
        self.db = db
        db.migrate("hub_accounts", MIGRATIONS)
        self._password_ok: dict[str, str] = {}  # keyed hash of (user, password, bcrypt hash) -> user

    # -- audit ----------------------------------------------------------------------------

    def audit(self, actor: str | None, action: str, repo: str = "", detail: str = "", c=None) -> None:
        row = (time.time(), actor or "", action, repo, detail)
        if c is not None:
            c.execute("INSERT INTO acct_audit(at, actor, action, repo, detail) VALUES (?,?,?,?,?)", row)
            return
        with self.db.write() as w:
            w.execute("INSERT INTO acct_audit(at, actor, action, repo, detail) VALUES (?,?,?,?,?)", row)

    def audit_log(self, repo: str | None = None, limit: int = 200) -> list[AuditEntry]:
        if repo is None:
            rows = self.db.query("SELECT * FROM acct_audit ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.db.query("SELECT * FROM acct_audit WHERE repo=? ORDER BY id DESC LIMIT ?", (repo, limit))
        return [AuditEntry(**dict(r)) for r in rows]

    # -- users ----------------------------------------------------------------------------

    def _taken(self, c, name: str) -> bool:
        return bool(c.execute("SELECT 1 FROM acct_users WHERE name=? UNION SELECT 1 FROM acct_orgs WHERE name=?",
                              (name, name)).fetchone())

    def add_user(self, name: str, password: str, site_admin: bool = False, actor: str | None = None,
                 rounds: int = 12) -> None:
        """Add a user; `rounds` is bcrypt's cost (2^rounds iterations; tests use fewer)."""
        check_account_name(name, "user")
        hashed = hash_password(password, rounds)
        with self.db.write() as c:
            if self._taken(c, name):
                raise Conflict(f"the name {name!r} is taken")
            c.execute("INSERT INTO acct_users(name, password, site_admin, created) VALUES (?,?,?,?)",
                      (name, hashed, int(site_admin), time.time()))
            self.audit(actor, "user-add", detail=f"{name}{' (site admin)' if site_admin else ''}", c=c)

    def set_password(self, name: str, password: str, actor: str | None = None, rounds: int = 12) -> None:
        """A new password ends the user's web sessions, bearer tokens issued for the old one and
        any reset link; personal access tokens stay."""
        hashed = hash_password(password, rounds)
        with self.db.write() as c:
            self._set_password(c, name, hashed)
            self.audit(name if actor is None else actor, "password", detail=name, c=c)

    def _set_password(self, c, name: str, hashed: str) -> None:
        if c.execute("UPDATE acct_users SET password=? WHERE name=?", (hashed, name)).rowcount == 0:
            raise NotFound(f"no user {name!r}")
        c.execute("DELETE FROM acct_sessions WHERE user=?", (name,))
        c.execute("DELETE FROM acct_resets WHERE user=?", (name,))

    # -- sign-up and password resets -------------------------------------------------------

    def signup_open(self) -> bool:
        """Whether anyone may make an account on the pages (`hub signup open|closed`; open until closed)."""
        row = self.db.one("SELECT value FROM acct_settings WHERE key='signup'")
        return row is None or row[0] == "open"

    def set_signup(self, open_: bool, actor: str | None = None) -> None:
        with self.db.write() as c:
            c.execute("INSERT OR REPLACE INTO acct_settings VALUES ('signup', ?)", ("open" if open_ else "closed",))
            self.audit(actor, "signup", detail="open" if open_ else "closed", c=c)

    def sign_up(self, name: str, password: str, rounds: int = 12) -> None:
        if not self.signup_open():
            raise Forbidden("sign-up is closed on this hub: ask its administrator for an account")
        self.add_user(name, password, actor=name, rounds=rounds)

    def reset_link(self, name: str, actor: str | None = None, ttl: float = RESET_TTL) -> str:
        """A one-time secret that sets `name`'s password on /reset/SECRET within `ttl` seconds;
        it replaces the user's earlier ones."""
        secret = secrets.token_urlsafe(32)
        with self.db.write() as c:
            if not c.execute("SELECT 1 FROM acct_users WHERE name=?", (name,)).fetchone():
                raise NotFound(f"no user {name!r}")
            c.execute("DELETE FROM acct_resets WHERE user=? OR expires < ?", (name, time.time()))
            c.execute("INSERT INTO acct_resets VALUES (?,?,?)", (_sha(secret), name, time.time() + ttl))
            self.audit(actor, "reset-link", detail=name, c=c)
        return secret

    def reset_user(self, secret: str) -> str | None:
        """The user a reset secret is for, None if it is unknown, used or expired."""
        row = self.db.one("SELECT user FROM acct_resets WHERE hash=? AND expires > ?", (_sha(secret), time.time()))
        return None if row is None else row[0]

    def use_reset(self, secret: str, password: str, rounds: int = 12) -> str:
        """Set the password with a reset secret, which then stops working; returns the user."""
        hashed = hash_password(password, rounds)
        with self.db.write() as c:
            row = c.execute("SELECT user FROM acct_resets WHERE hash=? AND expires > ?",
                            (_sha(secret), time.time())).fetchone()
            if row is None:
                raise NotFound("this reset link is unknown, used or expired: ask an administrator for a new one")
            self._set_password(c, row[0], hashed)
            self.audit(row[0], "password-reset", detail=row[0], c=c)
        return row[0]

    # -- two-factor sign-in ----------------------------------------------------------------

    def has_totp(self, name: str) -> bool:
        row = self.db.one("SELECT totp FROM acct_users WHERE name=?", (name,))
        return bool(row and row[0])

    def enable_totp(self, name: str, secret: str, given: str) -> None:
        """Turn two-factor sign-in on with `secret`, once `given` shows the app has it."""
        if not re.fullmatch(r"[A-Z2-7]{16,64}", secret):
            raise InvalidArgument("a two-factor key is 16 to 64 base32 characters: reload the page for a new one")
        step = totp.matching_step(secret, given)
        if step is None:
            raise InvalidArgument("that code does not match: check the authenticator app's clock and try the next code")
        with self.db.write() as c:
            c.execute("UPDATE acct_users SET totp=?, totp_step=? WHERE name=?", (secret, step, name))
            self.audit(name, "2fa-on", detail=name, c=c)

    def disable_totp(self, name: str, actor: str | None = None) -> None:
        with self.db.write() as c:
            if c.execute("UPDATE acct_users SET totp=NULL, totp_step=0 WHERE name=?", (name,)).rowcount == 0:
                raise NotFound(f"no user {name!r}")
            self.audit(name if actor is None else actor, "2fa-off", detail=name, c=c)

    def check_totp(self, name: str, given: str) -> bool:
        """Whether `given` is the user's current code, not used before (each code works once)."""
        row = self.db.one("SELECT totp, totp_step FROM acct_users WHERE name=?", (name,))
        if row is None or not row[0]:
            return False
        step = totp.matching_step(row[0], given)
        if step is None or step <= row[1]:
            return False
        with self.db.write() as c:  # the compare-and-set keeps a code from being used twice at once
            return c.execute("UPDATE acct_users SET totp_step=? WHERE name=? AND totp_step < ?",
                             (step, name, step)).rowcount == 1

    def remove_user(self, name: str, actor: str | None = None) -> None:
        with self.db.write() as c:
            if c.execute("DELETE FROM acct_users WHERE name=?", (name,)).rowcount == 0:
                raise NotFound(f"no user {name!r}")
            for table in ("acct_members WHERE user=?", "acct_sessions WHERE user=?", "acct_grants WHERE grantee=?"):
                c.execute(f"DELETE FROM {table}", (f"user:{name}" if "grants" in table else name,))
            c.execute("UPDATE acct_tokens SET revoked=? WHERE user=? AND revoked IS NULL", (time.time(), name))
            self.audit(actor, "user-remove", detail=name, c=c)

    def users(self) -> list[tuple[str, bool]]:
        return [(r["name"], bool(r["site_admin"])) for r in self.db.query("SELECT name, site_admin FROM acct_users ORDER BY name")]

    def is_user(self, name: str) -> bool:
        return self.db.one("SELECT 1 FROM acct_users WHERE name=?", (name,)) is not None

    def password_stamp(self, name: str) -> str | None:
        """A short fingerprint of the user's password hash (None: no such user), which bearer tokens
        issued for a password carry, so that a new password ends them at once."""
        row = self.db.one("SELECT password FROM acct_users WHERE name=?", (name,))
        return None if row is None else _sha(row[0])[:16]

    def is_site_admin(self, name: str) -> bool:
        row = self.db.one("SELECT site_admin FROM acct_users WHERE name=?", (name,))
        return bool(row and row[0])

    def check_password(self, name: str, password: str) -> bool:
        """Blocking (bcrypt); a verified (user, password, hash) is remembered, so changing the
        password or removing the user ends it at once."""
        import bcrypt

        row = self.db.one("SELECT password FROM acct_users WHERE name=?", (name,))
        if row is None:  # as slow as a wrong password, so the time taken does not tell who exists
            bcrypt.checkpw(password.encode(), _unknown_user_hash())
            return False
        key = _sha("\0".join((name, password, row[0])))
        if self._password_ok.get(key) == name:
            return True
        if not bcrypt.checkpw(password.encode(), row[0].encode()):
            return False
        if len(self._password_ok) > 10000:
            self._password_ok.clear()
        self._password_ok[key] = name
        return True

    # -- organizations and teams ----------------------------------------------------------

    def add_org(self, name: str, owner: str, actor: str | None = None) -> None:
        check_account_name(name, "organization")
        with self.db.write() as c:
            if not c.execute("SELECT 1 FROM acct_users WHERE name=?", (owner,)).fetchone():
                raise NotFound(f"no user {owner!r}")
            if self._taken(c, name):
                raise Conflict(f"the name {name!r} is taken")
            c.execute("INSERT INTO acct_orgs VALUES (?,?)", (name, time.time()))
            c.execute("INSERT INTO acct_teams VALUES (?,?)", (name, policy.OWNERS))
            c.execute("INSERT INTO acct_members VALUES (?,?,?)", (name, policy.OWNERS, owner))
            self.audit(owner if actor is None else actor, "org-add", detail=f"{name} (owner {owner})", c=c)

    def orgs(self) -> list[str]:
        return [r[0] for r in self.db.query("SELECT name FROM acct_orgs ORDER BY name")]

    def is_org(self, name: str) -> bool:
        return self.db.one("SELECT 1 FROM acct_orgs WHERE name=?", (name,)) is not None

    def _org(self, c, org: str) -> None:
        if not c.execute("SELECT 1 FROM acct_orgs WHERE name=?", (org,)).fetchone():
            raise NotFound(f"no organization {org!r}")

    def add_team(self, org: str, team: str, actor: str | None = None) -> None:
        check_account_name(team, "team")
        with self.db.write() as c:
            self._org(c, org)
            if c.execute("SELECT 1 FROM acct_teams WHERE org=? AND name=?", (org, team)).fetchone():
                raise Conflict(f"team {org}/{team} exists")
            c.execute("INSERT INTO acct_teams VALUES (?,?)", (org, team))
            self.audit(actor, "team-add", detail=f"{org}/{team}", c=c)

    def teams(self, org: str) -> dict[str, list[str]]:
        """Each team of `org` with its members."""
        out: dict[str, list[str]] = {r[0]: [] for r in self.db.query("SELECT name FROM acct_teams WHERE org=? ORDER BY name", (org,))}
        for r in self.db.query("SELECT team, user FROM acct_members WHERE org=? ORDER BY user", (org,)):
            out.setdefault(r[0], []).append(r[1])
        return out

    def set_member(self, org: str, team: str, user: str, member: bool, actor: str | None = None) -> None:
        with self.db.write() as c:
            self._org(c, org)
            if not c.execute("SELECT 1 FROM acct_teams WHERE org=? AND name=?", (org, team)).fetchone():
                raise NotFound(f"no team {org}/{team}")
            if not c.execute("SELECT 1 FROM acct_users WHERE name=?", (user,)).fetchone():
                raise NotFound(f"no user {user!r}")
            if member:
                c.execute("INSERT OR IGNORE INTO acct_members VALUES (?,?,?)", (org, team, user))
            else:
                if team == policy.OWNERS and c.execute(
                        "SELECT count(*) FROM acct_members WHERE org=? AND team=?", (org, team)).fetchone()[0] <= 1:
                    raise Conflict(f"{user} is the last owner of {org}")
                c.execute("DELETE FROM acct_members WHERE org=? AND team=? AND user=?", (org, team, user))
            self.audit(actor, "member-add" if member else "member-remove", detail=f"{org}/{team}: {user}", c=c)

    def user_teams(self, user: str) -> list[str]:
        """`ORG/TEAM` of every team `user` is in."""
        return [f"{r[0]}/{r[1]}" for r in self.db.query("SELECT org, team FROM acct_members WHERE user=?", (user,))]

    def user_orgs(self, user: str) -> list[str]:
        return [r[0] for r in self.db.query("SELECT DISTINCT org FROM acct_members WHERE user=? ORDER BY org", (user,))]

    # -- grants ---------------------------------------------------------------------------

    def _grantee(self, c, grantee: str) -> str:
        kind, _, who = grantee.partition(":")
        if kind == "user" and c.execute("SELECT 1 FROM acct_users WHERE name=?", (who,)).fetchone():
            return grantee
        if kind == "team":
            org, _, team = who.partition("/")
            if c.execute("SELECT 1 FROM acct_teams WHERE org=? AND name=?", (org, team)).fetchone():
                return grantee
        raise NotFound(f"no {grantee!r}: name a user as user:NAME or a team as team:ORG/TEAM")

    def grant(self, repo: str, grantee: str, level: int, actor: str | None = None) -> None:
        """Give `grantee` `level` on `repo` (policy.NONE takes it away)."""
        check_repo(repo)
        with self.db.write() as c:
            self._grantee(c, grantee)
            if level == policy.NONE:
                c.execute("DELETE FROM acct_grants WHERE repo=? AND grantee=?", (repo, grantee))
                self.audit(actor, "revoke", repo, grantee, c=c)
            else:
                c.execute("INSERT OR REPLACE INTO acct_grants VALUES (?,?,?)", (repo, grantee, level))
                self.audit(actor, "grant", repo, f"{grantee} {policy.LEVEL_NAMES[level]}", c=c)

    def grants(self, repo: str) -> list[tuple[str, int]]:
        return [(r[0], r[1]) for r in self.db.query("SELECT grantee, level FROM acct_grants WHERE repo=? ORDER BY grantee", (repo,))]

    def level(self, user: str | None, repo: str, private: bool) -> int:
        """The permission `user` (None: anonymous) holds on `repo`, from the tables as they are now."""
        public = policy.NONE if private else policy.READ
        if user is None:
            return public
        ns = policy.namespace(repo)
        if ns == user or self.is_site_admin(user):
            return policy.ADMIN
        teams = self.user_teams(user)
        if f"{ns}/{policy.OWNERS}" in teams:
            return policy.ADMIN
        grantees = [f"user:{user}", *(f"team:{t}" for t in teams)]
        marks = ",".join("?" * len(grantees))
        row = self.db.one(f"SELECT max(level) FROM acct_grants WHERE repo=? AND grantee IN ({marks})", (repo, *grantees))
        return max(public, row[0] or policy.NONE)

    def readable_private(self, user: str | None, private: frozenset[str]) -> frozenset[str]:
        """Which of the private repositories `user` may see (what level() says, for all at once)."""
        if user is None or not private:
            return frozenset()
        if self.is_site_admin(user):
            return private
        teams = self.user_teams(user)
        owned = {user, *(t.split("/")[0] for t in teams if t.endswith("/" + policy.OWNERS))}
        grantees = [f"user:{user}", *(f"team:{t}" for t in teams)]
        marks = ",".join("?" * len(grantees))
        granted = {r[0] for r in self.db.query(f"SELECT repo FROM acct_grants WHERE grantee IN ({marks})", tuple(grantees))}
        return frozenset(r for r in private if r in granted or policy.namespace(r) in owned)

    # -- personal access tokens -----------------------------------------------------------

    def create_token(self, user: str, name: str, scope: str, actor: str | None = None,
                     days: int | None = None) -> tuple[Token, str]:
        """A new token, valid for `days` (None: until revoked); returns it with its secret, which is
        shown once and never kept."""
        if scope not in policy.SCOPES:
            raise InvalidArgument(f"unknown token scope {scope!r}: use one of {', '.join(policy.SCOPES)}")
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidArgument("a token needs a description of 1 to 100 characters")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(30)
        if days is not None and not 0 < days <= 3650:
            raise InvalidArgument("a token's lifetime must be 1 to 3650 days")
        now = time.time()
        token = Token(secrets.token_hex(8), user, name, scope, now, None, None, None if days is None else now + days * 86400)
        with self.db.write() as c:
            if not c.execute("SELECT 1 FROM acct_users WHERE name=?", (user,)).fetchone():
                raise NotFound(f"no user {user!r}")
            c.execute("INSERT INTO acct_tokens VALUES (?,?,?,?,?,?,?,?,?)",
                      (token.id, user, name, _sha(secret), scope, token.created, None, None, token.expires))
            self.audit(user if actor is None else actor, "token-create", detail=json.dumps({"id": token.id, "user": user, "scope": scope}), c=c)
        return token, secret

    def tokens(self, user: str) -> list[Token]:
        return [Token(**{k: r[k] for k in Token.__dataclass_fields__})
                for r in self.db.query("SELECT * FROM acct_tokens WHERE user=? ORDER BY created DESC", (user,))]

    def revoke_token(self, user: str, token_id: str, actor: str | None = None) -> None:
        with self.db.write() as c:
            if c.execute("UPDATE acct_tokens SET revoked=? WHERE id=? AND user=? AND revoked IS NULL",
                         (time.time(), token_id, user)).rowcount == 0:
                raise NotFound(f"{user} has no active token {token_id!r}")
            self.audit(user if actor is None else actor, "token-revoke", detail=json.dumps({"id": token_id, "user": user}), c=c)

    def token_by_secret(self, user: str, secret: str) -> Token | None:
        """The active token of `user` whose secret this is; its last use is recorded."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        row = self.db.one("SELECT * FROM acct_tokens WHERE hash=? AND user=? AND revoked IS NULL"
                          " AND (expires IS NULL OR expires > ?)", (_sha(secret), user, time.time()))
        if row is None:
            return None
        with self.db.write() as c:
            c.execute("UPDATE acct_tokens SET last_used=? WHERE id=?", (time.time(), row["id"]))
        return Token(**{k: row[k] for k in Token.__dataclass_fields__})

    def active_token_scope(self, token_id: str, user: str) -> str | None:
        """The scope of an active token, None if it was revoked or expired (checked on every request)."""
        row = self.db.one("SELECT scope FROM acct_tokens WHERE id=? AND user=? AND revoked IS NULL"
                          " AND (expires IS NULL OR expires > ?)", (token_id, user, time.time()))
        return None if row is None else row[0]

    # -- web sessions ---------------------------------------------------------------------

    def open_session(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.time()
        with self.db.write() as c:
            c.execute("DELETE FROM acct_sessions WHERE expires < ?", (now,))
            c.execute("INSERT INTO acct_sessions VALUES (?,?,?)", (_sha(sid), user, now + SESSION_TTL))
        return sid

    def session_user(self, sid: str) -> str | None:
        row = self.db.one("SELECT user FROM acct_sessions WHERE hash=? AND expires > ?", (_sha(sid), time.time()))
        return None if row is None else row[0]

    def close_session(self, sid: str) -> None:
        with self.db.write() as c:
            c.execute("DELETE FROM acct_sessions WHERE hash=?", (_sha(sid),))
