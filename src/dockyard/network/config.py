"""A root's network settings: what `<root>/daemon.json` asks (keys `bridge`, `default-subnet`,
`nft-table`, `mtu`) and what the root settled on (NetworkConfig)."""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.plainclass import plainclass


MIN_MTU, MAX_MTU = 68, 65520  # IPv4's minimum; the largest a Linux bridge takes


def valid_mtu(value: object) -> bool:
    """An MTU as daemon.json (a number) or a network option (its text) gives it."""
    text = str(value)
    return text.isdigit() and MIN_MTU <= int(text) <= MAX_MTU


@plainclass(frozen=True)
class NetworkConfig:
    """A root's network settings, settled (dockyard.network.owners.settle): owner: the root's
    identity, which tags every link the root makes so reconcile, prune and repair only ever
    touch its own; bridge_name: the default `bridge` network's Linux bridge; default_subnet:
    its subnet, None to take the first /16 from 10.88.0.0 that clashes with no host route (or,
    with identity_subnet, a /22 the identity points at: ipam.identity_subnet);
    nft_table: the `inet` table the root owns; mtu: of bridges and container interfaces (a
    network's com.docker.network.driver.mtu option overrides it).

    Unlike Docker (1500), the default MTU is 65520, the largest a bridge takes: a container then
    talks to its host and its neighbours at about twice the speed (measured: 2350 -> 4130 MB/s
    from a container to the host, benchmarks/network_ports.py), and traffic that leaves the
    host still fits its wire: TCP agrees on the smaller MSS, and the host itself tells a
    container's larger packets to shrink (ICMP "fragmentation needed" from the host, which no
    outside firewall can drop). `"mtu": 1500` in daemon.json gives Docker's behaviour."""

    owner: str
    bridge_name: str
    default_subnet: str | None
    nft_table: str
    mtu: int = MAX_MTU
    identity_subnet: bool = False


@plainclass(frozen=True)
class DaemonNetwork:
    """The network keys of `<root>/daemon.json` (`bridge`, `default-subnet`, `nft-table`, `mtu`);
    None where it says nothing, so the root's own settled or derived value applies."""

    bridge: str | None = None
    default_subnet: str | None = None
    nft_table: str | None = None
    mtu: int = MAX_MTU

    @classmethod
    def from_file(cls, path: str | Path) -> DaemonNetwork:
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
    def from_mapping(cls, data: dict, path: str | Path) -> DaemonNetwork:
        """From daemon.json already read (the engine parses it once for all its services)."""
        mtu = data.get("mtu") or MAX_MTU
        if not (isinstance(mtu, int) and valid_mtu(mtu)):
            raise InvalidArgument(f"invalid mtu {mtu!r} in {path}: use a number from {MIN_MTU} to {MAX_MTU}")
        asked = cls(bridge=data.get("bridge") or None, default_subnet=data.get("default-subnet") or None,
                    nft_table=data.get("nft-table") or None, mtu=mtu)
        for what, value in (("bridge", asked.bridge), ("nft-table", asked.nft_table)):
            if value is not None and not (isinstance(value, str) and 0 < len(value) <= 15
                                          and value.replace("-", "").replace("_", "").isalnum()):
                raise InvalidArgument(f"invalid {what} {value!r} in {path}: use up to 15 letters, digits, - or _")
        if asked.default_subnet is not None and not isinstance(asked.default_subnet, str):
            raise InvalidArgument(f"invalid default-subnet {asked.default_subnet!r} in {path}: use a CIDR like 10.88.0.0/16")
        return asked

    def asked(self) -> dict[str, str | None]:
        """The settings daemon.json fixes, as a root records what it settled from."""
        return {"bridge": self.bridge, "default-subnet": self.default_subnet, "nft-table": self.nft_table}
