"""A container's networks: checked at create, joined at start, connected and disconnected
while it runs or for its next start, and the network events of a run."""

from __future__ import annotations

from dockyard.containers.record import Container
from dockyard.network import endpoints as network_endpoints
from dockyard.errors import Conflict, Forbidden, NotFound

_BUILTIN_DRIVERS = {"host": "host", "none": "null"}  # every other network here is a bridge


class Networking:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def _network_events(self, c: Container, action: str) -> None:
        """connect / disconnect of each network the container joins or leaves with a run."""
        for name, ep in (c.network_settings.get("Networks") or {}).items():
            self.engine.events.emit("network", action, ep.get("NetworkID") or name, container=c.id, name=name,
                                    type=_BUILTIN_DRIVERS.get(name, "bridge"))

    def _check_network(self, hc: dict, nc: dict) -> None:
        """What moby checks at create: the endpoint settings (400). Networks are looked up
        when the container starts, as in moby (a network may be made in between)."""
        mode = hc["NetworkMode"]
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if not other.running:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
        for name, settings in (nc.get("EndpointsConfig") or {}).items():
            network_endpoints.EndpointRequest.from_settings(name, settings)

    def _attach_network(self, c: Container, link_hosts: list[str]):
        from dockyard.network.ports import parse_publish, publish_all
        hc, cfg = c.host_config, c.config
        ports = []
        for key, bindings in (hc.get("PortBindings") or {}).items():
            for b in bindings or [{}]:
                spec = key if "/" in key else key + "/tcp"
                port, proto = spec.split("/")
                host = b.get("HostPort") or ""
                ip = b.get("HostIp") or ""
                text = f"{ip + ':' if ip else ''}{host + ':' if host or ip else ''}{port}/{proto}"
                ports.extend(parse_publish(text))
        if hc.get("PublishAllPorts"):
            ports.extend(publish_all(list((cfg.get("ExposedPorts") or {}).keys())))
        mode = hc["NetworkMode"]
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if not other.running:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            if other.host_config["NetworkMode"] == "host":
                mode = "host"  # the other container's network is the host's
            else:
                mode = f"container:{other.network_settings.get('SandboxKey') or self.engine.run_dir / 'netns' / other.id}"
        elif mode.startswith("ns:"):  # a namespace made by someone else (podman's ns:PATH; the CRI's pods)
            mode = f"container:{mode[3:]}"
        try:
            att = self._join_networks(c, mode, ports, link_hosts)
        except NotFound as e:  # a network removed (or never made) since the create
            raise NotFound(f"failed to set up container networking: {e.message}") from None
        from dockyard.network.ports import port_map
        c.network_settings.update(Networks=att.networks, Ports=port_map(att.ports, ipv6=bool(att.ip6)),
                                  SandboxKey=att.netns_path or "")
        return att

    def _join_networks(self, c: Container, mode: str, ports: list, link_hosts: list[str]):
        """The network of `mode` and the others the NetworkingConfig names, with their settings."""
        hc, cfg = c.host_config, c.config
        endpoints = dict(self._endpoints_config(c))
        primary = dict(endpoints.pop(hc["NetworkMode"], None) or {})
        primary["MacAddress"] = primary.get("MacAddress") or cfg.get("MacAddress")
        request = network_endpoints.EndpointRequest.from_settings
        return self.engine.networks.attach(
            c.id, c.name, mode=mode, hostname=cfg.get("Hostname") or c.id[:12], files_dir=self.dir(c.id),
            endpoint=request(hc["NetworkMode"], primary),
            more={name: request(name, ep) for name, ep in endpoints.items()},
            ports=ports, dns=hc.get("Dns") or (), dns_search=hc.get("DnsSearch") or (),
            dns_options=hc.get("DnsOptions") or (), add_hosts=[*(hc.get("ExtraHosts") or ()), *link_hosts],
            domainname=cfg.get("Domainname") or "")

    def connect(self, ref: str, network: str, endpoint: dict | None = None) -> None:
        """Join `network` now (running) or at the next start; `endpoint`: Docker's EndpointSettings."""
        c = self.get(ref)
        req = network_endpoints.EndpointRequest.from_settings(network, endpoint)
        name = self.engine.networks.inspect(network)["Name"]
        networks = c.network_settings.setdefault("Networks", {})
        if c.running:
            c.network_settings["Networks"] = self.engine.networks.connect(c.id, name, req).networks
        elif name in networks:
            raise Forbidden(f"endpoint with name {c.name} already exists in network {name}")
        else:
            networks[name] = network_endpoints.asked(name, endpoint)
        self._endpoints_config(c)[name] = endpoint or {}
        self.store.save(c, "network_settings")
        if c.running:
            self.engine.events.emit("network", "connect", network, container=c.id)

    def disconnect(self, ref: str, network: str, force: bool = False) -> None:
        """Leave `network` now (running) and for later starts. `force`: as Docker's, no error
        when a stopped container is not on it."""
        c = self.get(ref)
        name = self.engine.networks.inspect(network)["Name"]
        networks = c.network_settings.setdefault("Networks", {})
        if c.running:
            c.network_settings["Networks"] = self.engine.networks.disconnect(c.id, name).networks
        elif name not in networks and not force:
            raise NotFound(f"container {c.id} is not connected to network {name}")
        else:
            networks.pop(name, None)
        self._endpoints_config(c).pop(name, None)
        self.store.save(c, "network_settings")
        if c.running:
            self.engine.events.emit("network", "disconnect", network, container=c.id)

    def _endpoints_config(self, c: Container) -> dict:
        return c.network_settings.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})
