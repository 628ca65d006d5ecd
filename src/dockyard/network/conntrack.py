"""Forgetting an address's connections: the conntrack entries it opened or that lead to it,
deleted over ctnetlink from this process, as `conntrack -D -s IP` and `conntrack -D -r IP`
would, without their two processes. A reused address then inherits no NAT state.

The entries are found in /proc/net/nf_conntrack (~1 ms to read, where a ctnetlink dump walks
every bucket of the table: 30-50 ms here) and deleted by their original tuple; without that
file, or for a protocol whose tuple is not written here, by a dump. The entries are those of
the calling thread's network namespace.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Iterable

from dockyard.network.netlink import Socket, attr, attrs, shared

NETLINK_NETFILTER = 12
_CT = 1 << 8  # NFNL_SUBSYS_CTNETLINK
IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_DELETE = 1, 2
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_ZONE = 1, 2, 18
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST = 1, 2, 3, 4
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
NLA_F_NESTED = 0x8000
_NFGEN = struct.Struct("=BBH")  # nfgenmsg: family, version, resource id
AF_INET, AF_INET6 = 2, 10
_PORTS = {6, 17, 33, 132, 136}  # tcp, udp, dccp, sctp, udplite: a tuple of ports
_ICMP = {1: (4, 5, 6), 58: (7, 8, 9)}  # icmp, icmpv6: CTA_PROTO_ ICMP[V6]_ID, _TYPE, _CODE
_GENERIC = {2, 4, 41, 50, 51, 89, 103, 112}  # igmp, ipip, ipv6, esp, ah, ospf, pim, vrrp: the number alone


def forget(ips: Iterable[str]) -> None:
    """Delete the entries whose original or reply source is one of `ips`."""
    wanted = {ipaddress.ip_address(ip) for ip in ips}
    if not wanted:
        return
    try:
        with open("/proc/thread-self/net/nf_conntrack") as f:
            text = f.read()
    except OSError:
        text = None
    bodies = None if text is None else _from_procfs(text, wanted)
    if bodies == []:
        return
    nl = shared(NETLINK_NETFILTER)
    for body in _from_dump(nl, wanted) if bodies is None else bodies:
        try:
            nl.request(_CT | IPCTNL_MSG_CT_DELETE, 0, body)
        except FileNotFoundError:  # it timed out or was deleted meanwhile
            pass


def _from_procfs(text: str, wanted: set) -> list[bytes] | None:
    """The delete requests for the entries of `wanted` in /proc/net/nf_conntrack's `text`; None
    when one of them has a protocol whose tuple is not written here."""
    spelled = [f"src={ip.exploded if ip.version == 6 else ip} " for ip in wanted]  # %pI6: 8 groups of 4 digits
    bodies = []
    for line in text.splitlines():
        if not any(s in line for s in spelled):
            continue
        tokens = line.split()
        orig: dict[str, str] = {}
        reply_src = None
        for token in tokens[4:]:
            key, eq, value = token.partition("=")
            if not eq:
                continue
            if key == "src" and "src" in orig:
                reply_src = value
            elif key == "zone" or reply_src is None:
                orig.setdefault(key, value)
        if ipaddress.ip_address(orig["src"]) not in wanted and (reply_src is None
                                                                 or ipaddress.ip_address(reply_src) not in wanted):
            continue
        proto = int(tokens[3])
        if proto in _PORTS:
            keys = attr(CTA_PROTO_SRC_PORT, struct.pack("!H", int(orig["sport"]))) \
                + attr(CTA_PROTO_DST_PORT, struct.pack("!H", int(orig["dport"])))
        elif proto in _ICMP:
            id_, type_, code = _ICMP[proto]
            keys = attr(id_, struct.pack("!H", int(orig["id"]))) + attr(type_, bytes([int(orig["type"])])) \
                + attr(code, bytes([int(orig["code"])]))
        elif proto in _GENERIC:
            keys = b""
        else:
            return None
        v6 = tokens[0] == "ipv6"
        src, dst = (ipaddress.ip_address(orig[k]).packed for k in ("src", "dst"))
        tuple_ = attr(CTA_TUPLE_IP | NLA_F_NESTED, attr(CTA_IP_V6_SRC if v6 else CTA_IP_V4_SRC, src)
                      + attr(CTA_IP_V6_DST if v6 else CTA_IP_V4_DST, dst)) \
            + attr(CTA_TUPLE_PROTO | NLA_F_NESTED, attr(CTA_PROTO_NUM, bytes([proto])) + keys)
        zone = attr(CTA_ZONE, struct.pack("!H", int(orig["zone"]))) if "zone" in orig else b""
        bodies.append(_NFGEN.pack(AF_INET6 if v6 else AF_INET, 0, 0) + attr(CTA_TUPLE_ORIG | NLA_F_NESTED, tuple_) + zone)
    return bodies


def _from_dump(nl: Socket, wanted: set) -> list[bytes]:
    """The delete requests for the entries of `wanted`, found in a dump of the whole table."""
    packed = {ip.packed for ip in wanted}
    bodies = []
    for msg in nl.dump(_CT | IPCTNL_MSG_CT_GET, _NFGEN.pack(0, 0, 0)):
        entry = attrs(msg, _NFGEN.size)
        if _source(entry.get(CTA_TUPLE_ORIG)) in packed or _source(entry.get(CTA_TUPLE_REPLY)) in packed:
            zone = attr(CTA_ZONE, entry[CTA_ZONE]) if CTA_ZONE in entry else b""
            bodies.append(msg[:1] + b"\0\0\0" + attr(CTA_TUPLE_ORIG | NLA_F_NESTED, entry[CTA_TUPLE_ORIG]) + zone)
    return bodies


def _source(tuple_attr: bytes | None) -> bytes | None:
    """The packed source address of a CTA_TUPLE_ORIG/REPLY payload."""
    ip = attrs(tuple_attr).get(CTA_TUPLE_IP) if tuple_attr else None
    if ip is None:
        return None
    found = attrs(ip)
    return found.get(CTA_IP_V4_SRC) or found.get(CTA_IP_V6_SRC)
