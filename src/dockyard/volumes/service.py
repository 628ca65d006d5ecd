"""The volume service: `volume create/ls/inspect/rm/prune` and the volumes containers mount.

A volume is a directory `<root>/volumes/<name>/_data` plus a record; a new volume mounted
where the image has content is filled from the image first (Docker's copy-up), so a
container sees the image's files there until it changes them.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.filtering import label_matches
from dockyard.snapshots.base import dir_size
from dockyard.store.events import EventLog
from dockyard.store.metadata import MetadataDB

MIGRATIONS = [
    """
    CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        driver TEXT NOT NULL DEFAULT 'local',
        created REAL NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        options TEXT NOT NULL DEFAULT '{}',
        anonymous INTEGER NOT NULL DEFAULT 0,
        filled INTEGER NOT NULL DEFAULT 0      -- copied up from an image once, never again
    );
    """,
]
_USERS = "users"  # beside _data: the containers mounting a volume with options
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # moby marks volumes created without a name with it


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class VolumeService:
    def __init__(self, db: MetadataDB, root: str | Path, events: EventLog) -> None:
        self.db = db
        self.dir = Path(root) / "volumes"
        self.dir.mkdir(parents=True, exist_ok=True)
        db.migrate("volumes", MIGRATIONS)
        self.events = events
        # The container service registers who uses a volume, so rm refuses and prune spares it.
        self.users_of: Callable[[str], list[str]] = lambda name: []

    def path(self, name: str) -> Path:
        return self.dir / name / "_data"

    def create(self, name: str = "", *, driver: str = "local", labels: dict | None = None,
               options: dict | None = None, anonymous: bool = False) -> dict:
        """Create (or, like docker, return the existing) volume. One created without a name is
        anonymous, as in moby: labelled so, and `prune` removes it without `all`."""
        if driver != "local":  # dockyard has no volume plugins: dockerd's words for a missing one
            raise NotFound(f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found')
        if not name:
            name, anonymous = os.urandom(32).hex(), True
        if anonymous:
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        _check_options(name, options or {})
        if not _NAME_RE.match(name):
            raise InvalidArgument(
                f"create {name}: {name!r} includes invalid characters for a local volume name, "
                "only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed")
        existing = self.db.one("SELECT name FROM volumes WHERE name=?", (name,))
        if existing is None:
            self.path(name).mkdir(parents=True, exist_ok=True)
            with self.db.write() as c:
                c.execute("INSERT OR IGNORE INTO volumes(name, driver, created, labels, options, anonymous) VALUES (?,?,?,?,?,?)",
                          (name, driver, time.time(), json.dumps(labels or {}), json.dumps(options or {}), int(anonymous)))
            self.events.emit("volume", "create", name, driver=driver)
        return self.inspect(name)

    def _row(self, name: str):
        row = self.db.one("SELECT * FROM volumes WHERE name=?", (name,))
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return row

    def source(self, name: str, user: str | None = None) -> Path:
        """The directory a container mounts for the volume. With a `user` (the container that
        is about to mount it), the filesystem the local driver's options (type, device, o) name
        is mounted there if it is not yet, as dockerd mounts it when a container using it
        starts; `release` by the last user unmounts it."""
        import subprocess
        path = self.path(name)
        if user is None:
            return path
        opts = json.loads(self._row(name)["options"] or "{}")
        if not opts.get("type"):
            return path
        with self._users(name) as users:
            if not _mounted(path):
                users.clear()  # whoever was listed lost the mount (a reboot): they no longer hold it
                r = subprocess.run(["mount", "-t", opts["type"], *(["-o", opts["o"]] if opts.get("o") else []),
                                    opts["device"], str(path)], capture_output=True, text=True)
                if r.returncode:
                    why = (r.stderr.strip() or "mount failed").splitlines()[0]
                    raise DockyardError(f"error while mounting volume '{path}': failed to mount local volume: {why}")
            users.add(user)
        return path

    def release(self, name: str, user: str) -> None:
        """`user` no longer mounts the volume: the last one unmounts what its options mounted
        (a tmpfs volume starts empty again, as with dockerd)."""
        if not (self.dir / name / _USERS).exists():
            return  # never mounted through its options
        with self._users(name) as users:
            if user not in users:
                return
            users.discard(user)
            if not users:
                self._unmount(name)

    @contextmanager
    def _users(self, name: str) -> Iterator[set[str]]:
        """The set of containers mounting an optioned volume, read and written under its lock."""
        fd = os.open(self.dir / name / _USERS, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            users = set(f.read().split())
            before = set(users)
            yield users
            if users != before:
                f.seek(0)
                f.truncate()
                f.write("\n".join(sorted(users)))

    def _unmount(self, name: str) -> None:
        import subprocess
        path = self.path(name)
        while _mounted(path) and subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            pass

    def exists(self, name: str) -> bool:
        return self.db.one("SELECT 1 FROM volumes WHERE name=?", (name,)) is not None

    def inspect(self, name: str) -> dict:
        row = self._row(name)
        return {
            "CreatedAt": _rfc3339(row["created"]),
            "Driver": row["driver"],
            "Labels": json.loads(row["labels"]) or None,
            "Mountpoint": str(self.path(name)),
            "Name": name,
            "Options": json.loads(row["options"]) or None,
            "Scope": "local",
        }

    def list(self, filters: dict[str, list[str]] | None = None) -> list[dict]:
        filters = filters or {}
        for key in filters:
            if key not in ("dangling", "name", "label", "driver"):
                raise InvalidArgument(f"invalid filter '{key}'")
        for value in filters.get("dangling", ()):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter 'dangling=[{value}]'")
        out = []
        for row in self.db.query("SELECT name FROM volumes ORDER BY name"):
            v = self.inspect(row[0])
            if "dangling" in filters:
                want = filters["dangling"][-1].lower() in ("true", "1")
                if (not self.users_of(v["Name"])) != want:
                    continue
            if "name" in filters and not any(f in v["Name"] for f in filters["name"]):
                continue
            if "driver" in filters and v["Driver"] not in filters["driver"]:
                continue
            if "label" in filters and not all(label_matches(v["Labels"] or {}, f) for f in filters["label"]):
                continue
            out.append(v)
        return out

    def remove(self, name: str, *, force: bool = False) -> None:
        if not force:
            self._row(name)
        users = self.users_of(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self._unmount(name)  # never delete through a mount: the files are the device's
        if _mounted(self.path(name)):
            raise Conflict(f"remove {name}: cannot unmount {self.path(name)}: it is busy")
        with self.db.write() as c:
            c.execute("DELETE FROM volumes WHERE name=?", (name,))
        shutil.rmtree(self.dir / name, ignore_errors=True)
        self.events.emit("volume", "destroy", name, driver="local")

    def prune(self, *, all_volumes: bool = False, filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
        """Remove unused volumes: anonymous ones only unless `all_volumes`, as docker 23+ does,
        of those the prune `filters` (label, label!) select."""
        from dockyard.filtering import selects
        removed, freed = [], 0
        for row in self.db.query("SELECT name, anonymous, labels, created FROM volumes"):
            name = row[0]
            if self.users_of(name) or (not all_volumes and not row[1]):
                continue
            if filters and not selects(filters, json.loads(row[2] or "{}"), row[3]):
                continue
            freed += dir_size(self.dir / name)
            self.remove(name)
            removed.append(name)
        return removed, freed

    def fill_from(self, name: str, source: Path) -> None:
        """Copy the image's content at the mount point into a new, empty volume, once."""
        import subprocess
        row = self._row(name)
        dest = self.path(name)
        if row["filled"] or not source.is_dir() or any(dest.iterdir()):
            return
        r = subprocess.run(["cp", "-a", f"{source}/.", str(dest)], capture_output=True, text=True)
        if r.returncode:
            raise InvalidArgument(f"cannot fill volume {name} from the image: {r.stderr.strip()}")
        with self.db.write() as c:
            c.execute("UPDATE volumes SET filled=1 WHERE name=?", (name,))

    def usage(self) -> tuple[int, int, int, int]:
        """(count, in use, bytes, reclaimable bytes) for `system df`."""
        total = used = size = reclaim = 0
        for row in self.db.query("SELECT name FROM volumes"):
            total += 1
            b = dir_size(self.dir / row[0])
            size += b
            if self.users_of(row[0]):
                used += 1
            else:
                reclaim += b
        return total, used, size, reclaim


def _mounted(path: Path) -> bool:
    """Whether something is mounted on `path` (a bind mount from the same filesystem too,
    which os.path.ismount cannot tell)."""
    target = str(path).encode()
    with open("/proc/self/mountinfo", "rb") as f:
        return any(line.split()[4] == target for line in f)


_OPTIONS = ("type", "device", "o", "size")
_NEEDS = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def _check_options(name: str, options: dict) -> None:
    """The local driver's options as moby checks them: type, device and o (mount(8)'s), which
    need each other; size asks for a quota, which dockyard's volume directory cannot give."""
    for key in options:
        if key not in _OPTIONS:
            raise InvalidArgument(f'create {name}: invalid option: "{key}"')
    if "size" in options:
        raise InvalidArgument(f"create {name}: quota size requested but no quota support")
    for key, needs in _NEEDS.items():
        for need in needs if key in options else ():
            if need not in options:
                raise InvalidArgument(f'create {name}: missing required option: "{need}"')
