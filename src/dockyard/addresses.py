"""Host names and addresses, as the front ends and the registry client judge them."""

from __future__ import annotations


def split_host_port(host: str) -> tuple[str, str]:
    """`name:port`, `[v6-address]:port` or either without the port -> (name, port or "")."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, rest.removeprefix(":")
    if host.count(":") > 1:  # a bare IPv6 address
        return host, ""
    name, _, port = host.partition(":")
    return name, port


def is_loopback(host: str) -> bool:
    """`localhost`, or an address of the loopback network (IPv6 with or without brackets):
    a host nothing outside this machine can reach, so plain HTTP to it is acceptable."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    import ipaddress  # 1 ms that `ps` and `port` (host_address) need not pay

    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_address(ip: str, port: int | str) -> str:
    """"0.0.0.0:8080", "[::]:8080": a host address and port as docker prints them."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
