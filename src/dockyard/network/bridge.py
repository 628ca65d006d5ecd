"""Bridges, veth pairs and namespaces, behind the `Netlink` seam.

Every link dockyard makes carries an interface alias "dockyard:<root identity>:<what>:<id>"
(dockyard.network.owners), so `reconcile` can find its own leftovers after a crash and never
touches anyone else's links, another root's included.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Iterable, Protocol

from dockyard.errors import Conflict, DockyardError
from dockyard.network import netns, rtnetlink
from dockyard.network.ipam import host_route_devices


class Netlink(Protocol):
    """The kernel seam for links, addresses, routes and namespaces."""

    def create_netns(self, path: Path) -> None:
        """A new namespace pinned at `path`, with lo up."""

    def remove_netns(self, path: Path) -> None:
        """Idempotent."""

    def ensure_bridge(self, name: str, address: str, prefixlen: int, tag: str, mtu: int, address6: str = "",
                      prefixlen6: int = 0) -> None:
        """The bridge exists, is up and holds `address/prefixlen` (the gateway), and
        `address6/prefixlen6` when given (a dual-stack network); `mtu` when made."""

    def add_endpoint(self, *, host_ifname: str, bridge: str, netns_path: str, ifname: str, mac: str,
                     address: str, prefixlen: int, gateway: str | None, tag: str, mtu: int, address6: str = "",
                     prefixlen6: int = 0, gateway6: str | None = None, link_local: Iterable[str] = ()) -> None:
        """A veth pair of `mtu`: `host_ifname` enslaved to `bridge`, its peer `ifname` inside the
        namespace with `mac` and `address` (and `address6`, and the `link_local` addresses asked
        for), and default routes via `gateway` (and `gateway6`) when given."""

    def wait_running(self, name: str) -> None:
        """Return once the veth end `name` (and its peer) pass traffic."""

    def delete_link(self, name: str) -> None:
        """Idempotent; deleting a veth end deletes its peer too."""

    def tagged_links(self, prefix: str) -> dict[str, str]:
        """{ifname: alias} of host links whose alias starts with `prefix`."""

    def link_alias(self, name: str) -> str | None:
        """The alias of a host link ("" when it has none), None when there is no such link."""


class KernelNetlink:
    """The real seam: rtnetlink requests from this process (network/rtnetlink.py), no `ip`
    process; links and aliases are read from /sys."""

    def create_netns(self, path: Path) -> None:
        netns.create(path)
        try:
            netns.run_in(path, _loopback_up)
        except BaseException:
            netns.remove(path)
            raise

    def remove_netns(self, path: Path) -> None:
        netns.remove(path)

    def ensure_bridge(self, name: str, address: str, prefixlen: int, tag: str, mtu: int, address6: str = "",
                      prefixlen6: int = 0) -> None:
        exists = _exists(name)
        if exists and _serves(name, address, prefixlen) and (not address6 or _has_ipv6(name, address6)):
            return  # as the last container left it: nothing to change on most starts
        try:
            with rtnetlink.Rtnl() as nl:
                if not exists:
                    nl.add_bridge(name, mtu)
                    nl.set_link(name, alias=tag)
                nl.add_address(name, address, prefixlen, replace=True)
                if address6:  # nodad: the gateway answers at once, even before a port brings the carrier up
                    nl.add_address(name, address6, prefixlen6, nodad=True, replace=True)
                nl.set_link(name, up=True)
        except OSError as e:
            raise DockyardError(f"cannot set up bridge {name}: {e.strerror or e}") from None

    def add_endpoint(self, *, host_ifname: str, bridge: str, netns_path: str, ifname: str, mac: str,
                     address: str, prefixlen: int, gateway: str | None, tag: str, mtu: int, address6: str = "",
                     prefixlen6: int = 0, gateway6: str | None = None, link_local: Iterable[str] = ()) -> None:
        # the pair is made inside the namespace and its host end sent out to ours (by this thread's
        # id: a rootless engine's network calls run on a thread in the user's network namespace),
        # so the container's side never exists, even briefly, in the host's namespace
        here = threading.get_native_id()

        def inside() -> None:
            with rtnetlink.Rtnl() as nl:
                nl.add_veth(ifname, mac, mtu, host_ifname, here)
                nl.add_address(ifname, address, prefixlen)
                nl.set_link(ifname, up=True)
                if gateway:
                    nl.add_default_route(gateway)
                if address6:
                    nl.add_address(ifname, address6, prefixlen6, nodad=True)
                    if gateway6:
                        nl.add_default_route(gateway6)
                for ip in link_local:
                    nl.add_address(ifname, ip, 128 if ":" in ip else 32, nodad=":" in ip)

        try:
            netns.run_in(netns_path, inside)
        except OSError as e:
            raise DockyardError(f"cannot create the container's interface {ifname}: {e.strerror or e}") from None
        try:
            _enslave(host_ifname, bridge, tag)
        except BaseException:
            self.delete_link(host_ifname)
            raise

    def wait_running(self, name: str, timeout: float = 1.0) -> None:
        """Until the kernel's link watcher has seen both ends' carrier, which it does on a work
        queue (0.1-9 ms after the host end comes up, on a loaded host), both ends drop every
        packet: a client's SYN to a port published at once is lost (TCP sends it again only a
        second later). The watcher sets the operstate "up" as it activates them."""
        path = os.path.join(_SYS_NET, name, "operstate")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(path) as f:
                    if f.read().strip() == "up":
                        return
            except OSError:
                return  # gone (its namespace went meanwhile): nothing to wait for
            time.sleep(0.0002)

    def delete_link(self, name: str) -> None:
        if not _exists(name):
            return
        try:
            with rtnetlink.Rtnl() as nl:
                nl.delete_link(name)
        except OSError as e:
            if _exists(name):  # else it went meanwhile (its peer's namespace was freed)
                raise DockyardError(f"cannot delete link {name}: {e.strerror or e}") from None

    def tagged_links(self, prefix: str) -> dict[str, str]:
        out = {}
        for entry in os.scandir(_SYS_NET):
            alias = self.link_alias(entry.name)
            if alias is not None and alias.startswith(prefix):
                out[entry.name] = alias
        return out

    def link_alias(self, name: str) -> str | None:
        try:
            with open(os.path.join(_SYS_NET, name, "ifalias")) as f:
                return f.read().strip()
        except OSError:
            return None


_SYS_NET = "/sys/class/net"
BRIDGE_PORTS = 1023  # ports one bridge holds: BR_MAX_PORTS (1,024, net/bridge/br_private.h) less port 0, kept unused


def _exists(name: str) -> bool:
    return os.path.exists(os.path.join(_SYS_NET, name))


def _has_ipv6(name: str, address: str) -> bool:
    """Whether link `name` holds IPv6 `address` (/proc/net/if_inet6: 32 hex digits per address)."""
    import ipaddress
    want = ipaddress.IPv6Address(address).exploded.replace(":", "")
    try:
        with open("/proc/thread-self/net/if_inet6") as f:
            return any(line.split()[0] == want and line.split()[-1] == name for line in f)
    except OSError:
        return False


def _serves(name: str, address: str, prefixlen: int) -> bool:
    """Whether link `name` is up holding `address`/`prefixlen`, found without the kernel's
    rtnl lock, which address ioctls take and which every network change on the host holds
    (a start then queues behind other roots' starts and exits): the prefix's route through
    the link is in the main table, where it is only while the link is up with an address of
    that prefix, and `address` is one of the host's own (a socket binds to it)."""
    import ipaddress
    import socket

    if (ipaddress.IPv4Network(f"{address}/{prefixlen}", strict=False), name) not in host_route_devices():
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


def _loopback_up() -> None:
    """lo up with two ioctls."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        _set_up(s, "lo")


def _enslave(port: str, bridge: str, tag: str) -> None:
    """`ip link set dev PORT alias TAG master BRIDGE up` without an `ip` process (~5 ms of
    every start on a bridge): the alias through sysfs, the bridge port and the flag through
    the ioctls brctl uses (SIOCBRADDIF reaches the same br_add_if as netlink's IFLA_MASTER)."""
    import fcntl
    import socket
    import struct

    siocbraddif = 0x89A2
    try:
        with open(os.path.join(_SYS_NET, port, "ifalias"), "w") as f:
            f.write(tag)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s, siocbraddif, struct.pack("16si20x", bridge.encode(), socket.if_nametoindex(port)))
            _set_up(s, port)
    except OSError as e:
        if e.errno == errno.EXFULL:  # as Docker meets it at docker0's 1,024th container
            raise Conflict(f"cannot attach {port} to bridge {bridge}: it has {BRIDGE_PORTS} ports, the most a Linux "
                           "bridge holds: put further containers on another network") from None
        raise DockyardError(f"cannot attach {port} to bridge {bridge}: {e.strerror or e}") from None


def _set_up(s, name: str) -> None:
    """Set IFF_UP on link `name` (two ioctls on the socket `s`)."""
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    req = fcntl.ioctl(s, siocgifflags, struct.pack("16sH22x", name.encode(), 0))
    flags = struct.unpack("16sH22x", req)[1]
    fcntl.ioctl(s, siocsifflags, struct.pack("16sH22x", name.encode(), flags | iff_up))
