"""The few rtnetlink requests dockyard makes (links, addresses, routes), over a netlink socket.

What `ip` would send for `link add … type veth|bridge`, `link set … up|alias`, `addr add|replace`,
`route add default via` and `link del`, packed with struct: a container's start on a bridge then
starts no process for its network. pyroute2, the library made for rtnetlink, was measured
against this: importing it took 120-390 ms on this host (0.9: it pulls in asyncio and its NDB),
more than a whole `run`, and every `dockyard run` is a new process that would pay it. These
requests are a fraction of a millisecond each.

The socket (network/netlink.py) lives in the network namespace of the thread that opens it.
"""

from __future__ import annotations

import socket
import struct

from dockyard.network.netlink import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Socket, attr

# message types and attributes (linux/rtnetlink.h, linux/if_link.h, linux/veth.h)
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_NET_NS_PID, IFLA_IFALIAS = 1, 3, 4, 18, 19, 20
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
IFF_UP, IFA_F_NODAD = 0x1, 0x2
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_IFINFO = struct.Struct("=BxHiII")    # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")     # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst len, src len, tos, table, protocol, scope, type, flags


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def _address(ip: str) -> tuple[int, bytes]:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return family, socket.inet_pton(family, ip)


class Rtnl(Socket):
    """A NETLINK_ROUTE socket (requests raise OSError when refused)."""

    def __init__(self) -> None:
        super().__init__(socket.NETLINK_ROUTE)

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
