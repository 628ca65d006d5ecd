"""Host names and addresses, as the front ends and the registry client judge them."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost`, or an address of the loopback network (IPv6 with or without brackets):
    a host nothing outside this machine can reach, so plain HTTP to it is acceptable."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
