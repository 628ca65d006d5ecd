"""Published ports: `-p`/`--publish` specs and `-P` parsed into PortSpecs, results in Docker's shape.

A spec only says what the user asked for; host port 0 means "pick a free one", resolved when
the container attaches (see `service.NetworkService.attach`).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Iterable

from dockyard.errors import InvalidArgument
from dockyard.plainclass import plainclass

PROTOCOLS = ("tcp", "udp")


@plainclass(frozen=True)
class PortSpec:
    """One requested mapping; host_ip "" means every host address, host_port 0 means any free port."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0


@plainclass(frozen=True)
class PortBinding:
    """A mapping in force: the host port is concrete."""

    host_ip: str
    host_port: int
    container_port: int
    proto: str


def parse_publish(spec: str) -> list[PortSpec]:
    """Parse `[IP:][HOSTPORT[-END]:]CONTAINERPORT[-END][/PROTO]`, as `docker run -p` accepts it."""
    text, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f'invalid publish spec "{spec}": unknown protocol "{proto}" (use tcp or udp)')
    host_ip, host_part, container_part = _split(spec, text)
    if host_ip:
        try:
            addr = ipaddress.ip_address(host_ip)
        except ValueError:
            raise InvalidArgument(f'invalid publish spec "{spec}": "{host_ip}" is not an IP address') from None
        if addr.version != 4:
            raise InvalidArgument(f'invalid publish spec "{spec}": only IPv4 host addresses are supported')
        host_ip = str(addr)
        if host_ip == "0.0.0.0":
            host_ip = ""
    container = _range(spec, container_part, "container port")
    if not host_part:
        return [PortSpec(port, proto, host_ip, 0) for port in container]
    host = _range(spec, host_part, "host port")
    if len(host) != len(container):
        raise InvalidArgument(f'invalid publish spec "{spec}": host and container port ranges differ in length')
    return [PortSpec(c, proto, host_ip, h) for h, c in zip(host, container)]


def publish_all(exposed: Iterable[str]) -> list[PortSpec]:
    """`-P`: every exposed port ("80", "53/udp", as in an image's ExposedPorts) on a free host port."""
    specs: list[PortSpec] = []
    for item in exposed:
        port, _, proto = item.partition("/")
        specs.extend(parse_publish(f"{port}/{proto or 'tcp'}"))
    return specs


def port_map(bindings: Iterable[PortBinding], ipv6: bool = False) -> dict[str, list[dict[str, str]]]:
    """Docker's NetworkSettings.Ports: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]};
    `ipv6`: the container has an IPv6 address, so a port on every host address is on "::" too."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in sorted(bindings, key=lambda b: (b.container_port, b.proto, b.host_ip, b.host_port)):
        entries = out.setdefault(f"{b.container_port}/{b.proto}", [])
        entries.append({"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)})
        if ipv6 and not b.host_ip:
            entries.append({"HostIp": "::", "HostPort": str(b.host_port)})
    return out


def host_port_free(host_ip: str, port: int, proto: str) -> bool:
    """Whether a host process could bind the port: a listener there would be shadowed by our DNAT."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are no conflict
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


def ephemeral_port(host_ip: str, proto: str) -> int:
    """A port from the kernel's ephemeral range that no host process holds right now."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host_ip or "0.0.0.0", 0))
        return s.getsockname()[1]


def _split(spec: str, text: str) -> tuple[str, str, str]:
    """Split into (host IP, host ports, container ports); the IP may be a bracketed IPv6 address."""
    if text.startswith("["):
        ip, sep, rest = text[1:].partition("]:")
        if not sep:
            raise InvalidArgument(f'invalid publish spec "{spec}"')
        host, _, container = rest.rpartition(":")
        return ip, host, container
    parts = text.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise InvalidArgument(f'invalid publish spec "{spec}": too many colons')


def _range(spec: str, text: str, what: str) -> list[int]:
    first, sep, last = text.partition("-")
    try:
        lo = int(first)
        hi = int(last) if sep else lo
    except ValueError:
        raise InvalidArgument(f'invalid publish spec "{spec}": invalid {what} "{text}"') from None
    if not (1 <= lo <= hi <= 65535):
        raise InvalidArgument(f'invalid publish spec "{spec}": invalid {what} "{text}" (1-65535)')
    return list(range(lo, hi + 1))
