"""Engine-wide network settings, from `<root>/daemon.json` (keys `bridge`, `default-subnet`,
`nft-table`, `mtu`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidArgument


MIN_MTU, MAX_MTU = 68, 65520  # IPv4's minimum; the largest a Linux bridge takes


def valid_mtu(value: object) -> bool:
    """An MTU as daemon.json (a number) or a network option (its text) gives it."""
    text = str(value)
    return text.isdigit() and MIN_MTU <= int(text) <= MAX_MTU


@dataclass(frozen=True)
class NetworkConfig:
    """bridge_name: the default `bridge` network's Linux bridge; default_subnet: its subnet, None to
    take the first /16 from 10.88.0.0 that clashes with no host route; nft_table: the `inet` table
    dockyard owns, which also tags its links so two engines on one host never reap each other's;
    mtu: of bridges and container interfaces (a network's com.docker.network.driver.mtu option
    overrides it).

    Unlike Docker (1500), the default MTU is 65520, the largest a bridge takes: a container then
    talks to its host and its neighbours at about twice the speed (measured: 2350 -> 4130 MB/s
    from a container to the host, benchmarks/network_ports.py), and traffic that leaves the
    host still fits its wire: TCP agrees on the smaller MSS, and the host itself tells a
    container's larger packets to shrink (ICMP "fragmentation needed" from the host, which no
    outside firewall can drop). `"mtu": 1500` in daemon.json gives Docker's behaviour."""

    bridge_name: str = "dockyard0"
    default_subnet: str | None = None
    nft_table: str = "dockyard"
    mtu: int = MAX_MTU

    @classmethod
    def from_file(cls, path: str | Path) -> NetworkConfig:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"cannot read {path}: {e}") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"cannot read {path}: expected a JSON object")
        return cls.from_mapping(data, path)

    @classmethod
    def from_mapping(cls, data: dict, path: str | Path) -> NetworkConfig:
        """From daemon.json already read (the engine parses it once for all its services)."""
        defaults = cls()
        mtu = data.get("mtu") or defaults.mtu
        if not (isinstance(mtu, int) and valid_mtu(mtu)):
            raise InvalidArgument(f"invalid mtu {mtu!r} in {path}: use a number from {MIN_MTU} to {MAX_MTU}")
        config = cls(bridge_name=data.get("bridge") or defaults.bridge_name,
                     default_subnet=data.get("default-subnet") or None,
                     nft_table=data.get("nft-table") or defaults.nft_table, mtu=mtu)
        for what, value in (("bridge", config.bridge_name), ("nft-table", config.nft_table)):
            if not (isinstance(value, str) and 0 < len(value) <= 15 and value.replace("-", "").replace("_", "").isalnum()):
                raise InvalidArgument(f"invalid {what} {value!r} in {path}: use up to 15 letters, digits, - or _")
        return config
