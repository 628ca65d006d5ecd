"""The few rtnetlink requests dockyard makes (links, addresses, routes), over a netlink socket.

What `ip` would send for `link add … type veth|bridge`, `link set … up|alias`, `addr add|replace`,
`route add default via` and `link del`, packed with struct: a container's start on a bridge then
starts no process for its network. pyroute2, the library made for rtnetlink, was measured
against this: importing it took 120-390 ms on this host (0.9: it pulls in asyncio and its NDB),
more than a whole `run`, and every `dockyard run` is a new process that would pay it. These
requests are a fraction of a millisecond each.

The socket lives in the network namespace of the thread that opens it.
"""

from __future__ import annotations

import os
import socket
import struct

# message types and flags (linux/rtnetlink.h, linux/netlink.h)
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x200, 0x400
# attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_NET_NS_PID, IFLA_IFALIAS = 1, 3, 4, 18, 19, 20
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
IFF_UP, IFA_F_NODAD = 0x1, 0x2
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HEADER = struct.Struct("=IHHII")     # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")    # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")     # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst len, src len, tos, table, protocol, scope, type, flags


def attr(kind: int, value: bytes | str | int) -> bytes:
    """One rtattr, padded to 4 bytes: bytes as they are, a str NUL-terminated, an int as u32."""
    if isinstance(value, str):
        value = value.encode() + b"\0"
    elif isinstance(value, int):
        value = struct.pack("=I", value)
    data = struct.pack("=HH", 4 + len(value), kind) + value
    return data + b"\0" * (-len(data) % 4)


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def _address(ip: str) -> tuple[int, bytes]:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return family, socket.inet_pton(family, ip)


class Rtnl:
    """A NETLINK_ROUTE socket; each request waits for the kernel's answer, and raises OSError
    (the errno `ip` would report) when refused."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._seq = 0

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc) -> None:
        self._sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> None:
        """Send one message and wait for its answer: OSError when the kernel refuses it."""
        self._seq += 1
        self._sock.send(_HEADER.pack(_HEADER.size + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, self._seq, 0)
                        + body)
        while True:
            data = self._sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, msg_type, _, seq, _ = _HEADER.unpack_from(data, offset)
                if msg_type == NLMSG_ERROR and seq == self._seq:
                    error = -struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                    if error:
                        raise OSError(error, os.strerror(error))
                    return
                offset += max(length + (-length % 4), _HEADER.size)

    def add_veth(self, name: str, mac: str, mtu: int, peer: str, peer_netns_pid: int) -> None:
        """A veth pair here, its peer `peer` moved at once to the namespace of `peer_netns_pid`."""
        peer_info = ifinfo() + attr(IFLA_IFNAME, peer) + attr(IFLA_MTU, mtu) + attr(IFLA_NET_NS_PID, peer_netns_pid)
        kind = attr(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     ifinfo() + attr(IFLA_IFNAME, name) + attr(IFLA_ADDRESS, bytes.fromhex(mac.replace(":", "")))
                     + attr(IFLA_MTU, mtu) + attr(IFLA_LINKINFO, kind))

    def add_bridge(self, name: str, mtu: int) -> None:
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfo() + attr(IFLA_IFNAME, name) + attr(IFLA_MTU, mtu)
                     + attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "bridge")))

    def set_link(self, name: str, *, up: bool = False, alias: str | None = None) -> None:
        """Bring link `name` up and/or set its alias."""
        body = ifinfo(flags=IFF_UP if up else 0, change=IFF_UP if up else 0) + attr(IFLA_IFNAME, name)
        if alias is not None:
            body += attr(IFLA_IFALIAS, alias)
        self.request(RTM_NEWLINK, 0, body)

    def delete_link(self, name: str) -> None:
        self.request(RTM_DELLINK, 0, ifinfo() + attr(IFLA_IFNAME, name))

    def add_address(self, name: str, ip: str, prefixlen: int, *, nodad: bool = False, replace: bool = False) -> None:
        """`ip addr add|replace IP/PREFIXLEN dev NAME [nodad]`."""
        family, raw = _address(ip)
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        self.request(RTM_NEWADDR, flags, _IFADDR.pack(family, prefixlen, IFA_F_NODAD if nodad else 0, RT_SCOPE_UNIVERSE,
                                                      socket.if_nametoindex(name))
                     + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw))

    def add_default_route(self, gateway: str) -> None:
        family, raw = _address(gateway)
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL,
                     _RTMSG.pack(family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                     + attr(RTA_GATEWAY, raw))
