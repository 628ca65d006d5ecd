"""NAT, published ports and isolation in an nftables table of dockyard's own (`inet <table>`).

The table is a pure function of the networks in use, replaced as a whole in one atomic batch
when they change, so it never drifts from the DB and never half-applies. Published ports are
elements of the table's port maps, which a publish or unpublish adds or deletes alone (one small
batch of nf_tables messages, `nftelements`, not the table rebuilt). The table's batches go
through libnftables in-process (`nftlib`).
Published ports are kernel DNAT (prerouting for outside traffic, output for the host itself,
127.0.0.1 included through route_localnet + masquerade): measured several times faster than a
userland proxy, and no process per port to leak. Other tables are never touched, except that
when Docker's `ip filter FORWARD` chain drops by policy, accept rules for our bridges go into
DOCKER-USER (or FORWARD) — tagged with a comment, removed when our last bridge goes.
"""

from __future__ import annotations

import json
from typing import Iterable, Protocol

from dockyard.errors import DockyardError
from dockyard.network import nftlib
from dockyard.network.ports import PortBinding
from dockyard.plainclass import plainclass

FAMILY = "inet"


@plainclass(frozen=True)
class ActiveNetwork:
    """A network with a bridge in the kernel (at least one container attached)."""

    bridge: str
    subnet: str
    internal: bool
    subnet6: str = ""   # '' on an IPv4-only network


@plainclass(frozen=True)
class PortRule:
    binding: PortBinding
    container_ip: str
    container_ip6: str = ""  # set: the port is published on the host's IPv6 addresses too


class Firewall(Protocol):
    """The kernel seam: everything that touches netfilter or sysctls goes through here."""

    def apply(self, commands: list[dict]) -> None:
        """Run one nft JSON batch atomically."""

    def list_chain(self, family: str, table: str, chain: str) -> list[dict] | None:
        """The chain's objects from `nft -j list chain`, None when the table or chain does not exist."""

    def list_map(self, family: str, table: str, name: str) -> list[dict] | None:
        """The map's objects (its elements in "elem") from `nft -j list map`, None when there is no such map."""

    def forget_connections(self, *ips: str) -> None:
        """Drop conntrack entries from or to `ips`, so a reused address inherits no NAT state."""

    def set_sysctl(self, key: str, value: str) -> None:
        """Write /proc/sys/<key>; keys use slashes ("net/ipv4/ip_forward") since interface names may hold dots."""


def ruleset(table: str, networks: Iterable[ActiveNetwork], ports: Iterable[PortRule]) -> list[dict]:
    """The whole table, replacing whatever was there (add + delete + add is nft's atomic replace)."""
    networks = sorted(networks, key=lambda n: n.bridge)
    t = {"family": FAMILY, "name": table}
    cmds: list[dict] = [{"add": {"table": t}}, {"delete": {"table": t}}, {"add": {"table": t}}]

    def chain(name: str, **base) -> None:
        cmds.append({"add": {"chain": {"family": FAMILY, "table": table, "name": name, **base}}})

    def rule(chain_name: str, *expr: dict) -> None:
        cmds.append({"add": {"rule": {"family": FAMILY, "table": table, "chain": chain_name, "expr": list(expr)}}})

    for name, key, data in _MAPS:
        cmds.append({"add": {"map": {"family": FAMILY, "table": table, "name": name, "type": key, "map": data}}})
    chain("prerouting", type="nat", hook="prerouting", prio=-100, policy="accept")
    chain("output", type="nat", hook="output", prio=-100, policy="accept")
    chain("postrouting", type="nat", hook="postrouting", prio=100, policy="accept")
    chain("forward", type="filter", hook="forward", prio=0, policy="accept")
    chain("ports")
    to_local = _match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
    rule("prerouting", to_local, {"jump": {"target": "ports"}})
    rule("output", to_local, {"jump": {"target": "ports"}})
    # Published ports are map elements, not rules: a port's publish and unpublish add and delete
    # its own elements (element_changes). A key no map holds ends the rule there (no DNAT).
    port = [_meta("l4proto"), _payload("th", "dport")]
    on_address = [_payload("ip", "daddr"), *port]
    rule("ports", _match(_meta("nfproto"), "ipv4"),
         {"dnat": {"family": "ip", "addr": _lookup(on_address, "hostaddr4"), "port": _lookup(on_address, "hostport4")}})
    rule("ports", _match(_meta("nfproto"), "ipv4"),
         {"dnat": {"family": "ip", "addr": _lookup(port, "addr4"), "port": _lookup(port, "port4")}})
    # not ::1, which no reply could come back to (IPv6 has no route_localnet): loopback6 serves it
    rule("ports", _match(_meta("nfproto"), "ipv6"), _match(_payload("ip6", "daddr"), "::1", "!="),
         {"dnat": {"family": "ip6", "addr": _lookup(port, "addr6"), "port": _lookup(port, "port6")}})
    cmds += element_changes(table, [], port_elements(ports))

    bridges = [n.bridge for n in networks]
    for n in networks:
        subnet = _prefix(n.subnet)
        if not n.internal:
            rule("postrouting", _match(_payload("ip", "saddr"), subnet),
                 _match(_meta("oifname"), n.bridge, "!="), {"masquerade": None})
        # The host reaching a published port on 127.0.0.1: the source must not stay loopback.
        rule("postrouting", _match(_meta("oifname"), n.bridge),
             _match(_payload("ip", "saddr"), _prefix("127.0.0.0/8")), {"masquerade": None})
        # Hairpin: a container reaching a published port of its own network through a host address.
        rule("postrouting", _match(_meta("oifname"), n.bridge), _match(_payload("ip", "saddr"), subnet),
             _match({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None})
        if n.subnet6:  # the same NAT for the network's IPv6 subnet (no loopback rule: IPv6 has no route_localnet)
            subnet6 = _prefix(n.subnet6)
            if not n.internal:
                rule("postrouting", _match(_payload("ip6", "saddr"), subnet6),
                     _match(_meta("oifname"), n.bridge, "!="), {"masquerade": None})
            rule("postrouting", _match(_meta("oifname"), n.bridge), _match(_payload("ip6", "saddr"), subnet6),
                 _match({"ct": {"key": "status"}}, "dnat", "in"), {"masquerade": None})
        if n.internal:
            rule("forward", _match(_meta("iifname"), n.bridge), _match(_meta("oifname"), n.bridge, "!="), {"drop": None})
            rule("forward", _match(_meta("oifname"), n.bridge), _match(_meta("iifname"), n.bridge, "!="), {"drop": None})
        others = [b for b in bridges if b != n.bridge]
        if others and not n.internal:
            rule("forward", _match(_meta("iifname"), n.bridge), _match(_meta("oifname"), {"set": others}), {"drop": None})
    return cmds


#: the port maps: name, key type, data type
_MAPS = (("hostaddr4", ["ipv4_addr", "inet_proto", "inet_service"], "ipv4_addr"),
         ("hostport4", ["ipv4_addr", "inet_proto", "inet_service"], "inet_service"),
         ("addr4", ["inet_proto", "inet_service"], "ipv4_addr"),
         ("port4", ["inet_proto", "inet_service"], "inet_service"),
         ("addr6", ["inet_proto", "inet_service"], "ipv6_addr"),
         ("port6", ["inet_proto", "inet_service"], "inet_service"))
PORT_MAPS = tuple(name for name, _, _ in _MAPS)


def port_elements(ports: Iterable[PortRule]) -> list[list]:
    """The port maps' elements for `ports`, [map, key, data] each, in one order whatever the
    input's: a port on one host address is keyed by that address too; a port on every
    address is published on the host's IPv6 addresses as well when the container has one."""
    out = []
    for p in ports:
        b = p.binding
        if b.host_ip:
            key = [b.host_ip, b.proto, b.host_port]
            out += [["hostaddr4", key, p.container_ip], ["hostport4", key, b.container_port]]
            continue
        key = [b.proto, b.host_port]
        out += [["addr4", key, p.container_ip], ["port4", key, b.container_port]]
        if p.container_ip6:
            out += [["addr6", key, p.container_ip6], ["port6", key, b.container_port]]
    return sorted(out, key=json.dumps)


def element_changes(table: str, old: Iterable[list], new: Iterable[list]) -> list[dict]:
    """The commands that turn the port maps' elements `old` into `new` (from port_elements):
    deletes first, so a key whose data changed is deleted and added again."""
    old_set, new_set = {json.dumps(e) for e in old}, {json.dumps(e) for e in new}
    cmds = []
    for verb, elements in (("delete", old_set - new_set), ("add", new_set - old_set)):
        by_map: dict[str, list] = {}
        for name, key, data in sorted(json.loads(e) for e in elements):
            key = {"concat": key}
            by_map.setdefault(name, []).append(key if verb == "delete" else [key, data])
        cmds += [{verb: {"element": {"family": FAMILY, "table": table, "name": name, "elem": elem}}}
                 for name, elem in sorted(by_map.items())]
    return cmds


def teardown(table: str) -> list[dict]:
    """Remove the table if it exists (adding first makes the delete never fail)."""
    t = {"family": FAMILY, "name": table}
    return [{"add": {"table": t}}, {"delete": {"table": t}}]


def forward_accept_changes(table: str, forward: list[dict] | None, docker_user: list[dict] | None,
                           bridges: Iterable[str]) -> list[dict]:
    """Keep accept rules for our bridges in Docker's chain when its FORWARD policy is drop.

    Returns the nft commands that bring the tagged rules in line with `bridges`: stale ones
    deleted by handle, missing ones inserted at the top. Nothing when FORWARD does not drop
    (and nothing of ours is there), so a host without Docker is never touched.
    """
    tag = f"dockyard:{table}"
    target_name, target = ("DOCKER-USER", docker_user) if docker_user is not None else ("FORWARD", forward)
    cmds: list[dict] = []
    present: set[str] = set()
    for name, objs in (("FORWARD", forward), ("DOCKER-USER", docker_user)):
        for obj in objs or ():
            r = obj.get("rule")
            if not r or r.get("comment") != tag:
                continue
            if name == target_name and _rule_key(r) in _wanted(bridges) and _rule_key(r) not in present:
                present.add(_rule_key(r))
                continue
            cmds.append({"delete": {"rule": {"family": "ip", "table": "filter", "chain": name, "handle": r["handle"]}}})
    if not _policy_drop(forward):
        return cmds
    for key in sorted(_wanted(bridges) - present):
        direction, bridge = key.split(" ", 1)
        cmds.append({"insert": {"rule": {"family": "ip", "table": "filter", "chain": target_name, "comment": tag,
                                         "expr": [_match(_meta(direction), bridge), {"accept": None}]}}})
    return cmds


def _wanted(bridges: Iterable[str]) -> set[str]:
    return {f"{d} {b}" for b in bridges for d in ("iifname", "oifname")}


def _rule_key(rule: dict) -> str | None:
    """"iifname br0" for a rule `iifname "br0" accept` as nft lists it, None for anything else."""
    expr = rule.get("expr") or []
    if len(expr) == 2 and "match" in expr[0] and "accept" in expr[1]:
        m = expr[0]["match"]
        key = m.get("left", {}).get("meta", {}).get("key")
        if key in ("iifname", "oifname") and isinstance(m.get("right"), str):
            return f"{key} {m['right']}"
    return None


def _policy_drop(chain_objs: list[dict] | None) -> bool:
    return any(o.get("chain", {}).get("policy") == "drop" for o in chain_objs or ())


def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _payload(protocol: str, field: str) -> dict:
    return {"payload": {"protocol": protocol, "field": field}}


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _lookup(key: list[dict], map_name: str) -> dict:
    return {"map": {"key": {"concat": key}, "data": f"@{map_name}"}}


def _prefix(cidr: str) -> dict:
    addr, _, length = cidr.partition("/")
    return {"prefix": {"addr": addr, "len": int(length)}}


class NftFirewall:
    """The real seam: libnftables with JSON in and out, ctnetlink, /proc/sys."""

    def apply(self, commands: list[dict]) -> None:
        if not commands:
            return
        if all("element" in next(iter(c.values())) for c in commands):  # a port's publish or unpublish
            from dockyard.network import nftelements
            try:
                nftelements.apply(commands)
            except OSError as e:
                raise DockyardError(f"nftables refused the ruleset: {e.strerror}") from None
            return
        ok, _, errors = nftlib.run(json.dumps({"nftables": commands}))
        if not ok:
            raise DockyardError(f"nftables refused the ruleset: {_first_line(errors)}")

    def list_chain(self, family: str, table: str, chain: str) -> list[dict] | None:
        return self._list(f"chain {family} {table} {chain}")

    def list_map(self, family: str, table: str, name: str) -> list[dict] | None:
        return self._list(f"map {family} {table} {name}")

    def _list(self, what: str) -> list[dict] | None:
        ok, out, _ = nftlib.run(f"list {what}")
        return json.loads(out).get("nftables", []) if ok else None

    def forget_connections(self, *ips: str) -> None:
        from dockyard.network import conntrack
        conntrack.forget(ips)

    def set_sysctl(self, key: str, value: str) -> None:
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0].strip() if lines else "unknown error"
