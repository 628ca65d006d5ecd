"""Address management: pools, overlap checks, picking free subnets and addresses (IPv4, and
IPv6 for networks with EnableIPv6).

Pure functions over addresses; the leases themselves live in the DB (`state.NetworkState`),
so whoever allocates does so inside one write transaction and no address is handed out twice.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Iterable

from dockyard.errors import Conflict, InvalidArgument

# Where default pools start: 10.88.0.0/16 upward, one /16 per network, as podman does.
POOL_START = IPv4Network("10.88.0.0/16")
POOL_END = IPv4Network("10.252.0.0/16")
# Default bridges of roots other than the default one (identity_subnet): a /22 each (1,021
# containers: a Linux bridge takes 1,023 ports, so the bridge and its subnet run out together,
# where a /24 ran out at 253), 256 of them in the /14 past the pool user networks take
# theirs from, so the two never meet. The default root's bridge takes a /16, as Docker's docker0.
IDENTITY_POOL = IPv4Network("10.252.0.0/14")
IDENTITY_PREFIX = 22


def parse_subnet(text: str, version: int = 4) -> IPv4Network | IPv6Network:
    """A subnet as the user wrote it; host bits set ("10.1.2.3/24") are an error, as in Docker."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {text}: {e}") from None
    if net.version != version:
        raise InvalidArgument(f"invalid subnet {text}: not an IPv{version} subnet")
    if net.max_prefixlen - net.prefixlen < 2:
        raise InvalidArgument(f"invalid subnet {text}: too small, use a /{net.max_prefixlen - 2} or larger")
    return net


def parse_address(text: str, what: str = "address", version: int = 4) -> IPv4Address | IPv6Address:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text}: not an IPv{version} address") from None
    if addr.version != version:
        raise InvalidArgument(f"invalid {what} {text}: not an IPv{version} address")
    return addr


def gateway_for(net: IPv4Network | IPv6Network, requested: str | None) -> IPv4Address | IPv6Address:
    """The requested gateway, checked to lie in the subnet, or the subnet's first host."""
    if requested is None:
        return net.network_address + 1
    gw = parse_address(requested, "gateway", net.version)
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"invalid gateway {gw}: it is not a usable address of subnet {net}")
    return gw


def check_overlap(net: IPv4Network, taken: Iterable[IPv4Network]) -> None:
    if any(net.overlaps(t) for t in taken):
        raise Conflict("Pool overlaps with other one on this address space")


def free_subnet(taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first /16 from 10.88.0.0 upward (to 10.251.0.0) that overlaps nothing in `taken` (DB networks, host routes)."""
    taken = list(taken)
    base = int(POOL_START.network_address)
    for i in range(int(POOL_END.network_address) - base >> 16):
        candidate = IPv4Network((base + (i << 16), 16))
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise Conflict("could not find an available, non-overlapping IPv4 address pool among the defaults")


def identity_subnet(owner: str, taken: Iterable[IPv4Network]) -> IPv4Network:
    """The default bridge's subnet for a root other than the default one: a /22 of
    IDENTITY_POOL overlapping nothing in `taken`, searched from the one the root's identity
    (8 hex digits) points at (its value modulo 256), so that roots whose bridges are not up yet
    seldom meet."""
    taken = list(taken)
    count = 1 << (IDENTITY_PREFIX - IDENTITY_POOL.prefixlen)
    base, start = int(IDENTITY_POOL.network_address), int(owner, 16) % count
    for i in range(count):
        candidate = IPv4Network((base + (((start + i) % count) << (32 - IDENTITY_PREFIX)), IDENTITY_PREFIX))
        if not any(candidate.overlaps(r) for r in taken):
            return candidate
    raise Conflict(f"no free /{IDENTITY_PREFIX} in {IDENTITY_POOL} for the default bridge: set `default-subnet` in daemon.json")


def ip_range_in(net: IPv4Network, text: str) -> IPv4Network:
    """A network's IPRange: a sub-range of its subnet that dynamic addresses come from."""
    try:
        pool = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid network config:\ninvalid ip-range {text}: {e}") from None
    if pool.version != net.version:
        raise InvalidArgument(f"invalid network config:\ninvalid ip-range {text}: parent subnet is an IPv{net.version} block")
    if not pool.subnet_of(net):
        raise InvalidArgument(f"invalid network config:\ninvalid ip-range {text}: parent subnet {net} doesn't contain ip-range")
    return pool


def auxiliary_addresses(net: IPv4Network, aux: dict) -> dict[str, str]:
    """AuxiliaryAddresses (name -> address): addresses of the subnet never handed out."""
    out = {}
    for name, text in aux.items():
        try:
            addr = ipaddress.ip_address(str(text))
        except ValueError:
            raise InvalidArgument(f"invalid network config:\ninvalid auxiliary address {name}: {text} is not an IP address") from None
        if addr.version != net.version:
            raise InvalidArgument(f"invalid network config:\ninvalid auxiliary address {name}: parent subnet is an IPv{net.version} block")
        if addr not in net:
            raise InvalidArgument(f"invalid network config:\ninvalid auxiliary address {name}: parent subnet {net} doesn't contain this address")
        out[str(name)] = str(addr)
    return out


def next_address(net: IPv4Network, gateway: IPv4Address, used: Iterable[str], network_name: str, *,
                 pool: IPv4Network | None = None, reserved: Iterable[str] = ()) -> IPv4Address:
    """The lowest free host address of `pool` (the IPRange; else the subnet): not the gateway,
    not leased, not reserved (auxiliary addresses). `used` and `reserved` are compared as the
    DB holds them, str() of an address (leases and auxiliary addresses are recorded so), not
    parsed: with 1,000 leases, parsing each took a start ~10 ms."""
    busy = {*used, *reserved, str(gateway)}
    for addr in (pool or net):
        if str(addr) not in busy and addr not in (net.network_address, net.broadcast_address):
            return addr
    raise Conflict(f"no available IPv{net.version} addresses on network {network_name}")


def check_address(text: str, net: IPv4Network, gateway: IPv4Address, used: Iterable[str],
                  reserved: Iterable[str] = ()) -> IPv4Address:
    """A user-requested `--ip`: inside the subnet (an IPRange only limits dynamic addresses,
    as in Docker), not the gateway, not leased, not an auxiliary address."""
    addr = parse_address(text, f"IPv{net.version} address", net.version)
    if addr not in net or addr in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"invalid IPv{net.version} address {addr}: it is not in subnet {net}")
    if addr == gateway or addr in {ipaddress.ip_address(u) for u in [*used, *reserved]}:
        raise Conflict(f"Address already in use: {addr} on subnet {net}")
    return addr


def ula_subnet(taken: Iterable[IPv6Network]) -> IPv6Network:
    """A /64 for an IPv6 network given none, as Docker 27+ takes one: a random ULA prefix
    (fd00::/8, RFC 4193's random global ID), clashing with nothing in `taken`."""
    import os
    taken = list(taken)
    for _ in range(100):
        candidate = IPv6Network((int.from_bytes(b"\xfd" + os.urandom(5) + b"\0\0", "big") << 64, 64))
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise Conflict("could not find an available, non-overlapping IPv6 address pool among the defaults")


def host_routes6() -> list[IPv6Network]:
    """Destinations of the host's IPv6 routes (/proc/net/ipv6_route), minus the default,
    link-local, multicast and host routes: the subnets an IPv6 network must not overlap."""
    routes = []
    try:
        with open("/proc/thread-self/net/ipv6_route") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 10:
            continue
        prefix = int(fields[1], 16)
        net = IPv6Network((int(fields[0], 16), prefix))
        if 0 < prefix < 128 and not (net.is_link_local or net.is_multicast):
            routes.append(net)
    return routes


def mac_for(addr: IPv4Address) -> str:
    """Docker's scheme: 02:42 followed by the IPv4 bytes, so a MAC never collides on a bridge."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed)


def parse_proc_route(text: str) -> list[IPv4Network]:
    """Destinations of the host's IPv4 routes from /proc/net/route (little-endian hex), minus the default."""
    return [net for net, _ in parse_proc_route_devices(text)]


def parse_proc_route_devices(text: str) -> list[tuple[IPv4Network, str]]:
    """(destination, interface) of the host's IPv4 routes from /proc/net/route, minus the default."""
    routes = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest = IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
        mask = IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        net = IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen:
            routes.append((net, fields[0]))
    return routes


def host_routes() -> list[IPv4Network]:
    return [net for net, _ in host_route_devices()]


def host_route_devices() -> list[tuple[IPv4Network, str]]:
    with open("/proc/thread-self/net/route") as f:
        return parse_proc_route_devices(f.read())
