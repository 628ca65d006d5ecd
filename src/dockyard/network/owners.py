"""Which root owns which host network objects, when several roots share one host.

Each root has an identity (dockyard.store.identity). Its links carry it in their alias
("dockyard:<identity>:<what>:<id>"), and its bridge and nft table names are settled once and
recorded in `<root>/network.json`:

- what daemon.json asks (`bridge`, `default-subnet`, `nft-table`) wins;
- the default root (/var/lib/dockyard) otherwise keeps Docker-like names: bridge `dockyard0`,
  table `dockyard`, the first free /16 from 10.88.0.0;
- any other root derives its own from its identity: bridge `dy-<id>`, table `dockyard-<id>`,
  and its default bridge takes a /22 of 10.252.0.0/14 (ipam.identity_subnet) when it is made.

Derived names cannot clash. Names asked for in daemon.json can, so every root also registers
its names in a host-wide directory (/run/dockyard-roots/<identity>.json, which names the root's
path); settling refuses, in one line naming the other root, a name another live root holds.
An entry whose root is gone (or holds another identity) is stale and dropped. The entry also
lists the subnets of the root's user-defined networks, which no other root then allocates
even while their bridges are down; default bridges' subnets are not listed (they are spread
by identity), and a host route, checked when a bridge comes up, shows any subnet in use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ContextManager

from dockyard.errors import Conflict, DockyardError
from dockyard.network.config import DaemonNetwork, NetworkConfig
from dockyard.store.identity import ID_RE, read_root_id
from dockyard.store.lock import exclusive
from dockyard.plainclass import plainclass

REGISTRY_DIR = Path("/run/dockyard-roots")
RECORD_FILE = "network.json"
DEFAULT_BRIDGE, DEFAULT_TABLE = "dockyard0", "dockyard"


def tag(owner: str) -> str:
    """The alias prefix of every link a root makes."""
    return f"dockyard:{owner}:"


def owner_of_alias(alias: str) -> str | None:
    """The identity in a dockyard link alias, None for a link that is not a dockyard root's."""
    parts = alias.split(":")
    return parts[1] if len(parts) >= 4 and parts[0] == "dockyard" else None


@plainclass(frozen=True)
class Claim:
    """A root's names on the host; `subnets`: those of its user-defined networks, None until
    it registered them (since the host's last boot)."""

    owner: str
    root: str
    bridge: str
    nft_table: str
    subnets: tuple[str, ...] | None = None


class Registry:
    """The host's roots and the names they hold: one JSON file per root identity."""

    def __init__(self, path: Path = REGISTRY_DIR) -> None:
        self.path = Path(path)

    def locked(self) -> ContextManager[None]:
        return exclusive(self.path / ".lock")

    def claim(self, owner: str) -> Claim | None:
        """The registered claim of `owner`, whether or not its root is still there."""
        try:
            doc = json.loads((self.path / f"{owner}.json").read_text())
            subnets = doc.get("subnets")
            return Claim(owner, doc["root"], doc["bridge"], doc["nft-table"],
                         None if subnets is None else tuple(subnets))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def live(self) -> list[Claim]:
        """Claims whose root still exists and holds their identity; stale files are removed
        (call under `locked`)."""
        claims = []
        for entry in sorted(self.path.glob("*.json")) if self.path.is_dir() else ():
            c = self.claim(entry.stem)
            if c is not None and read_root_id(Path(c.root)) == c.owner:
                claims.append(c)
            else:
                entry.unlink(missing_ok=True)
        return claims

    def record(self, c: Claim) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{c.owner}.{os.getpid()}"
        tmp.write_text(json.dumps({"root": c.root, "bridge": c.bridge, "nft-table": c.nft_table,
                                   "subnets": None if c.subnets is None else list(c.subnets)}) + "\n")
        tmp.replace(self.path / f"{c.owner}.json")

    def forget(self, owner: str) -> None:
        (self.path / f"{owner}.json").unlink(missing_ok=True)

    def describe(self, owner: str) -> str:
        """"dockyard root /path (id)", as errors name another owner."""
        if not ID_RE.match(owner):
            return f"a dockyard engine of an earlier version (links tagged {tag(owner)})"
        c = self.claim(owner)
        return f"dockyard root {c.root} ({owner})" if c else f"dockyard root {owner}"


def settle(asked: DaemonNetwork, root: Path, owner: str, *, default_root: bool, registry: Registry) -> NetworkConfig:
    """The root's network settings: recorded ones while daemon.json asks the same and the host
    registry knows the root (one file read on most commands), else settled anew under the
    registry's lock: asked, recorded (derived earlier) or derived, and checked against the
    names other live roots hold."""
    record = _recorded(root, owner, asked, registry)
    if record.get("settled"):
        return _config(record, asked)
    try:
        with registry.locked():
            record = _recorded(root, owner, asked, registry)  # another process of this root may have settled
            if record.get("settled"):
                return _config(record, asked)
            return _settle_anew(asked, root, owner, record, default_root=default_root, registry=registry)
    except OSError as e:
        raise DockyardError(f"cannot record the network names of root {root} in {registry.path}: {e.strerror}") from None


def _recorded(root: Path, owner: str, asked: DaemonNetwork, registry: Registry) -> dict:
    """The root's record ({} when none, or copied from another root), with "settled" true
    when it still holds: daemon.json asks the same and the registry knows it as recorded."""
    record = _read_json(root / RECORD_FILE)
    if record.get("owner") != owner:
        return {}
    mine = registry.claim(owner)
    record["settled"] = (record.get("asked") == asked.asked() and mine is not None and mine.root == str(root)
                         and (mine.bridge, mine.nft_table) == (record.get("bridge"), record.get("nft-table")))
    return record


def _settle_anew(asked: DaemonNetwork, root: Path, owner: str, record: dict, *, default_root: bool,
                 registry: Registry) -> NetworkConfig:
    """Settle under the registry's lock (held by the caller)."""
    record_path = root / RECORD_FILE
    others = registry.live()
    twin = next((c for c in others if c.owner == owner and c.root != str(root)), None)
    if twin is not None:
        raise Conflict(f"roots {twin.root} and {root} have the same identity {owner} (one is a copy of the "
                       f"other): stop {root}'s containers, then remove {root / 'root-id'} and {record_path}")
    kept = {k: record.get(k) for k in ("bridge", "nft-table") if record and not (record.get("asked") or {}).get(k)}

    def pick(key: str, derive) -> str | None:
        if asked.asked()[key]:
            return asked.asked()[key]
        return kept[key] if kept.get(key) else derive()

    settled = {
        "owner": owner,
        "bridge": pick("bridge", lambda: DEFAULT_BRIDGE if default_root else f"dy-{owner}"),
        "nft-table": pick("nft-table", lambda: DEFAULT_TABLE if default_root else f"dockyard-{owner}"),
        "default-subnet": asked.default_subnet,
        "derived": not default_root,
        "asked": asked.asked(),
    }
    for c in others:
        if c.owner == owner:
            continue
        for key, held in (("bridge", c.bridge), ("nft-table", c.nft_table)):
            if settled[key] == held:
                source = "daemon.json asks for" if asked.asked()[key] else "the default"
                raise Conflict(f"{key} {held} ({source}) is held by {registry.describe(c.owner)}: "
                               f"set another `{key}` in {root / 'daemon.json'}")
    tmp = record_path.with_name(f".{RECORD_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(settled, indent=1) + "\n")
    tmp.replace(record_path)
    mine = registry.claim(owner)
    registry.record(Claim(owner, str(root), settled["bridge"], settled["nft-table"], mine.subnets if mine else None))
    return _config(settled, asked)


def _config(record: dict, asked: DaemonNetwork) -> NetworkConfig:
    return NetworkConfig(record["owner"], record["bridge"], record.get("default-subnet"), record["nft-table"], asked.mtu,
                         identity_subnet=bool(record.get("derived")))


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
