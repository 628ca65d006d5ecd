"""Adding and deleting the port maps' elements with nf_tables' own netlink messages: one batch
(begin, the element messages, end), as `nft add|delete element` sends it, but without what
libnftables does first: it reads every table, chain and set on the host into its cache (~8 ms
here, more on a host with many rules: Docker's, other roots'), and a `run -p` needs none of it.

The elements are those firewall.element_changes describes, whose values are an IPv4 host
address, a protocol name or a port in a key, and an IPv4/IPv6 address or a port as data.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from dockyard.network.netlink import NLM_F_ACK, NLM_F_CREATE, attr, shared

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM = 12, 14
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
NFTA_LIST_ELEM, NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_DATA, NFTA_DATA_VALUE = 1, 1, 2, 1
NLA_F_NESTED = 0x8000
NFPROTO = {"inet": 1, "ip": 2, "ip6": 10}
_PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}


def apply(commands: list[dict]) -> None:
    """Run element commands ({"add"|"delete": {"element": {family, table, name, elem}}}) as one
    nf_tables transaction; OSError when the kernel refuses it (a table or map gone, say)."""
    messages = [(NFNL_MSG_BATCH_BEGIN, 0, struct.pack("=BBH", 0, 0, socket.htons(NFNL_SUBSYS_NFTABLES)))]
    for cmd in commands:
        (verb, body), = cmd.items()
        e = body["element"]
        elems = b""
        for item in e["elem"]:
            key, data = (item, None) if verb == "delete" else item
            inner = attr(NFTA_SET_ELEM_KEY | NLA_F_NESTED, attr(NFTA_DATA_VALUE, _key(key["concat"])))
            if data is not None:
                inner += attr(NFTA_SET_ELEM_DATA | NLA_F_NESTED, attr(NFTA_DATA_VALUE, _value(data)))
            elems += attr(NFTA_LIST_ELEM | NLA_F_NESTED, inner)
        kind = NFT_MSG_NEWSETELEM if verb == "add" else NFT_MSG_DELSETELEM
        messages.append(((NFNL_SUBSYS_NFTABLES << 8) | kind, NLM_F_ACK | (NLM_F_CREATE if verb == "add" else 0),
                         struct.pack("=BBH", NFPROTO[e["family"]], 0, 0) + attr(NFTA_SET_ELEM_LIST_TABLE, e["table"])
                         + attr(NFTA_SET_ELEM_LIST_SET, e["name"])
                         + attr(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, elems)))
    messages.append((NFNL_MSG_BATCH_END, 0, struct.pack("=BBH", 0, 0, socket.htons(NFNL_SUBSYS_NFTABLES))))
    shared(NETLINK_NETFILTER).batch(messages)


def _key(parts: list) -> bytes:
    """A concatenation's bytes: each part in its own 4-byte-aligned register, as nft lays them."""
    out = b""
    for part in parts:
        raw = _PROTOCOLS[part].to_bytes(1, "big") if part in _PROTOCOLS else _value(part)
        out += raw + b"\0" * (-len(raw) % 4)
    return out


def _value(value: str | int) -> bytes:
    """An address (4 or 16 bytes) or a port (2 bytes, network order)."""
    if isinstance(value, int):
        return struct.pack("!H", value)
    return ipaddress.ip_address(value).packed
