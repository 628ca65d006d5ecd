"""What a client asks of a container's place on one network: Docker's EndpointSettings as
`NetworkingConfig.EndpointsConfig[NAME]` (create) and `EndpointConfig` (network connect) carry
it, checked as moby checks it, and what of it is kept to show in `NetworkSettings.Networks`."""

from __future__ import annotations


from dockyard.errors import InvalidArgument
from dockyard.plainclass import Factory, plainclass


@plainclass(frozen=True)
class EndpointRequest:
    aliases: tuple[str, ...] = ()
    ipv4: str | None = None
    ipv6: str | None = None
    link_local: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    driver_opts: dict = Factory(dict)
    mac: str | None = None

    @classmethod
    def from_settings(cls, network: str, doc: dict | None) -> EndpointRequest:
        """From EndpointSettings JSON; one line naming the network for a bad address."""
        doc = doc or {}
        if not isinstance(doc, dict):
            raise InvalidArgument(f"invalid config for network {network}: EndpointsConfig is not an object")
        ipam = doc.get("IPAMConfig") or {}
        problems = []
        ipv4, ipv6 = ipam.get("IPv4Address") or None, ipam.get("IPv6Address") or None
        if ipv4 and _version(ipv4) != 4:
            problems.append(f"invalid IPv4 address: {ipv4}")
        if ipv6 and _version(ipv6) != 6:
            problems.append(f"invalid IPv6 address: {ipv6}")
        link_local = tuple(ipam.get("LinkLocalIPs") or ())
        problems += [f"invalid link-local IP address: {ip}" for ip in link_local if _version(ip) is None]
        if problems:
            raise InvalidArgument(f"invalid config for network {network}: invalid endpoint settings:\n"
                                  + "\n".join(problems))
        return cls(aliases=tuple(doc.get("Aliases") or ()), ipv4=ipv4, ipv6=ipv6, link_local=link_local,
                   links=tuple(doc.get("Links") or ()), driver_opts=dict(doc.get("DriverOpts") or {}),
                   mac=doc.get("MacAddress") or None)

    def kept(self) -> dict:
        """What the endpoint record keeps of the request, to show it back as Docker does."""
        ipam = {k: v for k, v in (("IPv4Address", self.ipv4), ("IPv6Address", self.ipv6),
                                  ("LinkLocalIPs", list(self.link_local))) if v}
        return {"IPAMConfig": ipam or None, "Links": list(self.links) or None,
                "DriverOpts": self.driver_opts or None, "MacAddress": self.mac or ""}


def _version(text: str) -> int | None:
    import ipaddress
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None



def endpoint_settings(kept: dict, aliases: list[str] | None, *, network_id: str = "", endpoint_id: str = "",
                      gateway: str = "", ip: str = "", prefixlen: int = 0, mac: str = "", gateway6: str = "",
                      ip6: str = "", prefixlen6: int = 0, dns_names: list[str] | None = None) -> dict:
    """Docker's EndpointSettings (NetworkSettings.Networks[name]) in its field order.
    `kept`: what was asked (EndpointRequest.kept())."""
    return {
        "IPAMConfig": kept.get("IPAMConfig"), "Links": kept.get("Links"), "Aliases": aliases or None,
        "MacAddress": mac or kept.get("MacAddress") or "", "DriverOpts": kept.get("DriverOpts"),
        "NetworkID": network_id, "EndpointID": endpoint_id, "Gateway": gateway, "IPAddress": ip,
        "IPPrefixLen": prefixlen, "IPv6Gateway": gateway6, "GlobalIPv6Address": ip6, "GlobalIPv6PrefixLen": prefixlen6,
        "DNSNames": dns_names,
    }


def planned(mode: str, endpoints: dict[str, dict]) -> dict[str, dict]:
    """NetworkSettings.Networks of a container never started: the networks it joins (`mode`'s
    and those its NetworkingConfig names) with what it asked, as moby records them at create."""
    if mode.startswith(("container:", "ns:")):
        return {}
    return {name: asked(name, endpoints.get(name)) for name in dict.fromkeys([mode, *endpoints])}


def asked(network: str, doc: dict | None) -> dict:
    """The EndpointSettings of a network a container will join: what it asked, no address."""
    req = EndpointRequest.from_settings(network, doc)
    return endpoint_settings(req.kept(), list(req.aliases))


def stopped(networks: dict[str, dict]) -> dict[str, dict]:
    """NetworkSettings.Networks once the container stopped: every attachment kept (NetworkID,
    aliases, DNS names, what was asked), its operational data cleared, as moby clears it."""
    return {name: {**es, "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                   "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": ""}
            for name, es in networks.items()}
