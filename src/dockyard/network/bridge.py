"""Bridges, veth pairs and namespaces through netlink (pyroute2), behind the `Netlink` seam.

Every link dockyard makes carries an interface alias "dockyard:<table>:<what>:<id>", so
`reconcile` can find its own leftovers after a crash and never touches anyone else's links.
pyroute2 costs ~170 ms to import, so it is imported on first use only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from dockyard.errors import DockyardError
from dockyard.network import netns


class Netlink(Protocol):
    """The kernel seam for links, addresses, routes and namespaces."""

    def create_netns(self, path: Path) -> None:
        """A new namespace pinned at `path`, with lo up."""

    def remove_netns(self, path: Path) -> None:
        """Idempotent."""

    def ensure_bridge(self, name: str, address: str, prefixlen: int, tag: str) -> None:
        """The bridge exists, is up and holds `address/prefixlen` (the gateway)."""

    def add_endpoint(self, *, host_ifname: str, bridge: str, netns_path: str, ifname: str, mac: str,
                     address: str, prefixlen: int, gateway: str | None, tag: str) -> None:
        """A veth pair: `host_ifname` enslaved to `bridge`, its peer `ifname` inside the namespace
        with `mac` and `address`, and a default route via `gateway` when given."""

    def delete_link(self, name: str) -> None:
        """Idempotent; deleting a veth end deletes its peer too."""

    def tagged_links(self, prefix: str) -> dict[str, str]:
        """{ifname: alias} of host links whose alias starts with `prefix`."""


class KernelNetlink:
    """The real seam over pyroute2's IPRoute."""

    def __init__(self) -> None:
        self._ipr = None

    @property
    def ipr(self):
        if self._ipr is None:
            from pyroute2 import IPRoute
            self._ipr = IPRoute()
        return self._ipr

    def create_netns(self, path: Path) -> None:
        netns.create(path)
        try:
            netns.run_in(path, _loopback_up)
        except BaseException:
            netns.remove(path)
            raise

    def remove_netns(self, path: Path) -> None:
        netns.remove(path)

    def ensure_bridge(self, name: str, address: str, prefixlen: int, tag: str) -> None:
        from pyroute2 import NetlinkError

        idx = self._index(name)
        try:
            if idx is None:
                self.ipr.link("add", ifname=name, kind="bridge")
                idx = self._index(name)
                self.ipr.link("set", index=idx, ifalias=tag)
            have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in self.ipr.get_addr(index=idx, family=2)}
            if (address, prefixlen) not in have:
                self.ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
            self.ipr.link("set", index=idx, state="up")
        except NetlinkError as e:
            raise DockyardError(f"cannot set up bridge {name}: {e.args[-1]}") from None

    def add_endpoint(self, *, host_ifname: str, bridge: str, netns_path: str, ifname: str, mac: str,
                     address: str, prefixlen: int, gateway: str | None, tag: str) -> None:
        from pyroute2 import NetlinkError

        try:
            self.ipr.link("add", ifname=host_ifname, kind="veth",
                          peer={"ifname": ifname, "net_ns_fd": netns_path, "address": mac})
        except NetlinkError as e:
            raise DockyardError(f"cannot create veth pair {host_ifname}: {e.args[-1]}") from None
        try:
            idx = self._index(host_ifname)
            self.ipr.link("set", index=idx, ifalias=tag)
            self.ipr.link("set", index=idx, master=self._index(bridge), state="up")
            netns.run_in(netns_path, lambda: _configure_peer(ifname, address, prefixlen, gateway))
        except NetlinkError as e:
            self.delete_link(host_ifname)
            raise DockyardError(f"cannot configure {ifname} in {netns_path}: {e.args[-1]}") from None
        except BaseException:
            self.delete_link(host_ifname)
            raise

    def delete_link(self, name: str) -> None:
        from pyroute2 import NetlinkError

        idx = self._index(name)
        if idx is None:
            return
        try:
            self.ipr.link("del", index=idx)
        except NetlinkError as e:
            if e.code != 19:  # ENODEV: gone meanwhile (its peer's namespace was freed)
                raise DockyardError(f"cannot delete link {name}: {e.args[-1]}") from None

    def tagged_links(self, prefix: str) -> dict[str, str]:
        out = {}
        for link in self.ipr.get_links():
            alias = link.get_attr("IFLA_IFALIAS")
            if alias and alias.startswith(prefix):
                out[link.get_attr("IFLA_IFNAME")] = alias
        return out

    def _index(self, name: str) -> int | None:
        found = self.ipr.link_lookup(ifname=name)
        return found[0] if found else None


def _loopback_up() -> None:
    """lo up with two ioctls: `--network none` then needs no netlink library at all, and
    importing pyroute2 alone costs more than the rest of a container start."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = fcntl.ioctl(s, siocgifflags, struct.pack("16sH14x", b"lo", 0))
        flags = struct.unpack("16sH14x", req)[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def _configure_peer(ifname: str, address: str, prefixlen: int, gateway: str | None) -> None:
    """Runs inside the namespace: the socket IPRoute opens here belongs to it."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
        ipr.link("set", index=idx, state="up")
        if gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)
