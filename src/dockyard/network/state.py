"""The network tables of the metadata DB: networks, sandboxes (a container's network namespace and
its files), endpoints (a container on a network: its IP lease, MAC, veth) and published ports.

An endpoint row *is* the IP lease: a unique (network, ip) index makes a double lease impossible
even if two processes race, and deleting the row frees the address.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Iterable

from dockyard.network.firewall import ActiveNetwork, PortRule
from dockyard.network.ports import PortBinding
from dockyard.store.metadata import MetadataDB
from dockyard.plainclass import Factory, plainclass

MIGRATIONS: list[str] = [
    # 1: networks, sandboxes, endpoints, ports
    """
    CREATE TABLE networks (
        id TEXT PRIMARY KEY,                  -- 64 hex
        name TEXT NOT NULL UNIQUE,
        driver TEXT NOT NULL,                 -- bridge | host | null
        builtin INTEGER NOT NULL DEFAULT 0,   -- bridge, host, none: cannot be removed
        bridge TEXT NOT NULL DEFAULT '',      -- Linux bridge name
        subnet TEXT NOT NULL DEFAULT '',
        gateway TEXT NOT NULL DEFAULT '',
        internal INTEGER NOT NULL DEFAULT 0,
        options TEXT NOT NULL DEFAULT '{}',
        labels TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    CREATE TABLE sandboxes (
        container_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,                   -- container name, answered by the embedded DNS
        mode TEXT NOT NULL,                   -- network | none | host | container
        netns_path TEXT NOT NULL DEFAULT '',
        owns_netns INTEGER NOT NULL DEFAULT 0,
        hostname TEXT NOT NULL DEFAULT '',
        files_dir TEXT NOT NULL DEFAULT '',
        dns TEXT NOT NULL DEFAULT '{}',       -- {"servers": [], "search": [], "options": [], "add_hosts": []}
        created REAL NOT NULL
    );
    CREATE TABLE endpoints (
        container_id TEXT NOT NULL REFERENCES sandboxes(container_id),
        network_id TEXT NOT NULL REFERENCES networks(id),
        endpoint_id TEXT NOT NULL,
        name TEXT NOT NULL,
        aliases TEXT NOT NULL DEFAULT '[]',
        ifname TEXT NOT NULL,                 -- inside the namespace: eth0, eth1, ...
        host_ifname TEXT NOT NULL UNIQUE,     -- the veth end on the bridge
        ip TEXT NOT NULL,
        mac TEXT NOT NULL,
        requested_ip TEXT NOT NULL DEFAULT '',
        seq INTEGER NOT NULL,                 -- attach order; the lowest is the primary endpoint
        PRIMARY KEY (container_id, network_id)
    );
    CREATE UNIQUE INDEX endpoints_lease ON endpoints(network_id, ip);
    CREATE TABLE ports (
        container_id TEXT NOT NULL REFERENCES sandboxes(container_id),
        network_id TEXT NOT NULL,             -- the endpoint whose address the port maps to
        host_ip TEXT NOT NULL,                -- '' = every host address
        host_port INTEGER NOT NULL,
        proto TEXT NOT NULL,
        container_port INTEGER NOT NULL,
        PRIMARY KEY (host_ip, host_port, proto)
    );
    """,
    # 2: what Docker keeps of a network's IPAM pool and of an endpoint's settings beyond the lease
    """
    ALTER TABLE networks ADD COLUMN ipam TEXT NOT NULL DEFAULT '{}';     -- {"IPRange": cidr, "AuxiliaryAddresses": {name: ip}}
    ALTER TABLE endpoints ADD COLUMN config TEXT NOT NULL DEFAULT '{}';  -- {"IPAMConfig", "Links", "DriverOpts", "MacAddress"} as asked
    ALTER TABLE networks ADD COLUMN subnet6 TEXT NOT NULL DEFAULT '';    -- set: EnableIPv6
    ALTER TABLE networks ADD COLUMN gateway6 TEXT NOT NULL DEFAULT '';
    ALTER TABLE endpoints ADD COLUMN ip6 TEXT NOT NULL DEFAULT '';       -- the IPv6 lease, '' on IPv4-only networks
    CREATE UNIQUE INDEX endpoints_lease6 ON endpoints(network_id, ip6) WHERE ip6 != '';
    """,
    # 3: the Attachable flag a network was created with, kept and shown as Docker does
    """
    ALTER TABLE networks ADD COLUMN attachable INTEGER NOT NULL DEFAULT 0;
    """,
]


@plainclass(frozen=True)
class Network:
    id: str
    name: str
    driver: str
    builtin: bool
    bridge: str
    subnet: str
    gateway: str
    internal: bool
    options: dict
    labels: dict
    created: float
    ipam: dict = Factory(dict)
    subnet6: str = ""
    gateway6: str = ""
    attachable: bool = False

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.split("/")[1])

    @property
    def prefixlen6(self) -> int:
        return int(self.subnet6.split("/")[1]) if self.subnet6 else 0

    @property
    def user_defined(self) -> bool:
        return not self.builtin


@plainclass(frozen=True)
class Sandbox:
    container_id: str
    name: str
    mode: str
    netns_path: str
    owns_netns: bool
    hostname: str
    files_dir: str
    dns: dict


@plainclass(frozen=True)
class Endpoint:
    container_id: str
    network_id: str
    endpoint_id: str
    name: str
    aliases: list[str]
    ifname: str
    host_ifname: str
    ip: str
    mac: str
    requested_ip: str
    seq: int
    config: dict = Factory(dict)
    ip6: str = ""


def _network(r: sqlite3.Row) -> Network:
    return Network(r["id"], r["name"], r["driver"], bool(r["builtin"]), r["bridge"], r["subnet"], r["gateway"],
                   bool(r["internal"]), json.loads(r["options"]), json.loads(r["labels"]), r["created"], json.loads(r["ipam"]),
                   r["subnet6"], r["gateway6"], bool(r["attachable"]))


def _sandbox(r: sqlite3.Row) -> Sandbox:
    return Sandbox(r["container_id"], r["name"], r["mode"], r["netns_path"], bool(r["owns_netns"]),
                   r["hostname"], r["files_dir"], json.loads(r["dns"]))


def _endpoint(r: sqlite3.Row) -> Endpoint:
    return Endpoint(r["container_id"], r["network_id"], r["endpoint_id"], r["name"], json.loads(r["aliases"]),
                    r["ifname"], r["host_ifname"], r["ip"], r["mac"], r["requested_ip"], r["seq"], json.loads(r["config"]), r["ip6"])


class NetworkState:
    """Reads and writes of the network tables; writes take the connection of an open `db.write()`."""

    def __init__(self, db: MetadataDB) -> None:
        self.db = db
        db.migrate("network", MIGRATIONS)

    def networks(self) -> list[Network]:
        return [_network(r) for r in self.db.query("SELECT * FROM networks ORDER BY name")]

    def network(self, network_id: str) -> Network | None:
        r = self.db.one("SELECT * FROM networks WHERE id=?", (network_id,))
        return _network(r) if r else None

    def insert_network(self, c: sqlite3.Connection, n: Network) -> None:
        c.execute("INSERT INTO networks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  (n.id, n.name, n.driver, int(n.builtin), n.bridge, n.subnet, n.gateway, int(n.internal),
                   json.dumps(n.options), json.dumps(n.labels), n.created, json.dumps(n.ipam), n.subnet6, n.gateway6,
                   int(n.attachable)))

    def sandbox(self, container_id: str) -> Sandbox | None:
        r = self.db.one("SELECT * FROM sandboxes WHERE container_id=?", (container_id,))
        return _sandbox(r) if r else None

    def sandboxes(self) -> list[Sandbox]:
        return [_sandbox(r) for r in self.db.query("SELECT * FROM sandboxes")]

    def insert_sandbox(self, c: sqlite3.Connection, s: Sandbox) -> None:
        c.execute("INSERT INTO sandboxes VALUES (?,?,?,?,?,?,?,?,strftime('%s','now'))",
                  (s.container_id, s.name, s.mode, s.netns_path, int(s.owns_netns), s.hostname, s.files_dir,
                   json.dumps(s.dns)))

    def endpoints(self, *, container_id: str | None = None, network_id: str | None = None) -> list[Endpoint]:
        where, params = [], []
        for col, val in (("container_id", container_id), ("network_id", network_id)):
            if val is not None:
                where.append(f"{col}=?")
                params.append(val)
        sql = "SELECT * FROM endpoints" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return [_endpoint(r) for r in self.db.query(sql, tuple(params))]

    def insert_endpoint(self, c: sqlite3.Connection, e: Endpoint) -> None:
        c.execute("INSERT INTO endpoints VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  (e.container_id, e.network_id, e.endpoint_id, e.name, json.dumps(e.aliases), e.ifname,
                   e.host_ifname, e.ip, e.mac, e.requested_ip, e.seq, json.dumps(e.config), e.ip6))

    @staticmethod
    def leased(c: sqlite3.Connection, network_id: str, column: str = "ip") -> list[str]:
        """The addresses leased on a network: IPv4 (`ip`) or IPv6 (`ip6`)."""
        return [r[0] for r in c.execute(f"SELECT {column} FROM endpoints WHERE network_id=? AND {column} != ''",
                                        (network_id,))]

    def ports(self, container_id: str) -> list[PortBinding]:
        rows = self.db.query("SELECT * FROM ports WHERE container_id=?", (container_id,))
        return [PortBinding(r["host_ip"], r["host_port"], r["container_port"], r["proto"]) for r in rows]

    @staticmethod
    def port_holder(c: sqlite3.Connection, host_ip: str, host_port: int, proto: str) -> str | None:
        """The container already publishing this host port (on this address or on all addresses)."""
        r = c.execute("SELECT container_id FROM ports WHERE host_port=? AND proto=? AND (host_ip=? OR host_ip='' OR ?='')",
                      (host_port, proto, host_ip, host_ip)).fetchone()
        return r[0] if r else None

    @staticmethod
    def insert_port(c: sqlite3.Connection, container_id: str, network_id: str, b: PortBinding) -> None:
        c.execute("INSERT INTO ports VALUES (?,?,?,?,?,?)",
                  (container_id, network_id, b.host_ip, b.host_port, b.proto, b.container_port))

    @staticmethod
    def delete_endpoint(c: sqlite3.Connection, container_id: str, network_id: str) -> None:
        c.execute("DELETE FROM ports WHERE container_id=? AND network_id=?", (container_id, network_id))
        c.execute("DELETE FROM endpoints WHERE container_id=? AND network_id=?", (container_id, network_id))

    @staticmethod
    def delete_sandbox(c: sqlite3.Connection, container_id: str) -> None:
        for table in ("ports", "endpoints", "sandboxes"):
            c.execute(f"DELETE FROM {table} WHERE container_id=?", (container_id,))

    def firewall_state(self, network_ids: Iterable[str]) -> tuple[list[ActiveNetwork], list[PortRule]]:
        """What the ruleset must express: the networks given (those with a bridge in the kernel)
        and every published port."""
        ids = sorted(network_ids)
        nets = self.db.query("SELECT bridge, subnet, internal, subnet6 FROM networks "
                             f"WHERE id IN ({','.join('?' * len(ids))})", ids) if ids else []
        ports = self.db.query("SELECT p.*, e.ip, e.ip6 FROM ports p JOIN endpoints e "
                              "ON e.container_id = p.container_id AND e.network_id = p.network_id")
        return ([ActiveNetwork(r["bridge"], r["subnet"], bool(r["internal"]), r["subnet6"]) for r in nets],
                [PortRule(PortBinding(r["host_ip"], r["host_port"], r["container_port"], r["proto"]), r["ip"], r["ip6"])
                 for r in ports])
