"""The network service: networks (create, list, inspect, remove, prune) and containers' places
on them (attach, connect, disconnect, detach, reconcile).

Every change follows one order: validate and record it in one DB transaction (IP leases and
port reservations are rows, so a clash aborts before anything exists), then make the kernel
match (namespace, bridge, veth, nftables, DNS server, files); a kernel failure undoes the
container's whole state. Kernel changes are serialised by a lock file in the run dir, so two
CLIs never apply rulesets computed from different snapshots of the DB out of order.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sqlite3
import time
from datetime import datetime, timezone
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Callable, ContextManager, Iterable

from dockyard.errors import Conflict, DockyardError, Forbidden, InvalidArgument, NotFound
from dockyard.filtering import label_matches, term_matches
from dockyard.network import files, firewall, ipam, owners
from dockyard.network.bridge import KernelNetlink, Netlink
from dockyard.network.config import MAX_MTU, MIN_MTU, NetworkConfig, valid_mtu
from dockyard.network.dns_servers import DnsServers
from dockyard.network.endpoints import EndpointRequest, endpoint_settings
from dockyard.network.firewall import Firewall, NftFirewall
from dockyard.network.ports import PortBinding, PortSpec, ephemeral_port, host_port_free
from dockyard.network.state import Endpoint, Network, NetworkState, Sandbox
from dockyard.store.events import EventLog
from dockyard.store.identity import ID_RE
from dockyard.store.lock import exclusive
from dockyard.store.metadata import MetadataDB
from dockyard.plainclass import plainclass, replace

MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MTU_OPTION = "com.docker.network.driver.mtu"
FILTERS = ("name", "id", "driver", "label", "type", "scope", "dangling")


@plainclass(frozen=True)
class Attachment:
    """What the container service needs to start and describe a container's network."""

    netns_path: str | None      # None: the host's namespace
    ip: str | None
    gateway: str | None
    mac: str | None
    ports: list[PortBinding]
    networks: dict[str, dict]   # NetworkSettings.Networks: name -> EndpointSettings
    ip6: str | None = None      # the primary endpoint's IPv6 address: its ports are published on [::] too


class NetworkService:
    def __init__(self, db: MetadataDB, root: Path, run_dir: Path, config: NetworkConfig, *,
                 netlink: Netlink | None = None, fw: Firewall | None = None, dns: DnsServers | None = None,
                 host_resolvers: Callable[[], tuple[files.Resolver, files.Resolver | None]] = files.read_host_resolvers,
                 host_routes: Callable[[], list[tuple[IPv4Network, str]]] = ipam.host_route_devices,
                 registry: owners.Registry | None = None) -> None:
        self.db, self.root, self.run_dir, self.config = db, Path(root), Path(run_dir), config
        self.state = NetworkState(db)
        self.events = EventLog(db)
        self.netlink = netlink or KernelNetlink()
        self.fw = fw or NftFirewall()
        self.dns = dns or DnsServers(self.run_dir, db.path)
        self.host_resolvers = host_resolvers
        self.host_routes = host_routes
        self.registry = registry or owners.Registry()
        self.tag = owners.tag(config.owner)
        self._builtin_ready = False

    # ---- networks -----------------------------------------------------------------------------

    def create(self, name: str, *, driver: str = "bridge", subnet: str | None = None, gateway: str | None = None,
               ip_range: str | None = None, aux_addresses: dict | None = None, internal: bool = False,
               options: dict | None = None, labels: dict | None = None, enable_ipv6: bool = False,
               subnet6: str | None = None, gateway6: str | None = None, ip_range6: str | None = None,
               aux_addresses6: dict | None = None, attachable: bool = False, ipam_options: dict | None = None) -> dict:
        """A bridge network. Any name that is not blank, as moby takes it (spaces included: it
        names only records here, never a kernel object). `ip_range`: the part of the subnet
        dynamic addresses come from; `aux_addresses`: addresses never handed out.
        `enable_ipv6`: dual-stack, on `subnet6` (with its own range and auxiliary addresses) or
        else a random ULA /64 (as Docker 27+); without it an IPv6 pool is ignored, as moby ignores it.
        `ipam_options` are kept and shown as the request gave them (none: null, as dockerd shows them)."""
        if not name.strip():
            raise InvalidArgument("invalid name: name is empty")
        if name in ("bridge", "host", "none", "default"):
            raise Forbidden(f"operation is not permitted on predefined {name} network")
        if driver in ("host", "null"):
            raise Forbidden(f'only one instance of "{"none" if driver == "null" else driver}" network is allowed')
        if driver != "bridge":  # dockyard has no network plugins: dockerd's words for a missing one
            raise NotFound(f'plugin "{driver}" not found')
        for what, value, parent in (("gateway", gateway, subnet), ("ip-range", ip_range, subnet),
                                    ("aux-address", aux_addresses, subnet), ("gateway", gateway6, subnet6),
                                    ("ip-range", ip_range6, subnet6), ("aux-address", aux_addresses6, subnet6)):
            if value and not parent:
                raise InvalidArgument(f"a {what} needs a subnet: pass --subnet too")
        self._ensure_builtin()
        options = dict(options or {})
        if MTU_OPTION in options and not valid_mtu(options[MTU_OPTION]):
            raise InvalidArgument(f"invalid {MTU_OPTION} {options[MTU_OPTION]!r}: use a number from {MIN_MTU} to {MAX_MTU}")
        network_id = os.urandom(32).hex()
        bridge = options.get(BRIDGE_NAME_OPTION) or f"br-{network_id[:12]}"
        if not (0 < len(bridge) <= 15) or "/" in bridge or " " in bridge:
            raise InvalidArgument(f'invalid bridge name "{bridge}": use 1 to 15 characters without / or spaces')
        net = ipam.parse_subnet(subnet) if subnet else None
        gw = ipam.gateway_for(net, gateway) if net else None
        net6 = ipam.parse_subnet(subnet6, 6) if enable_ipv6 and subnet6 else None
        gw6 = ipam.gateway_for(net6, gateway6) if net6 else None
        pool = {}  # IPRange, AuxiliaryAddresses; IPRange6, AuxiliaryAddresses6 of the IPv6 pool; Options
        if ipam_options is not None:
            pool["Options"] = {str(k): str(v) for k, v in dict(ipam_options).items()}
        for family, parent, ip_range_, aux in (("", net, ip_range, aux_addresses), ("6", net6, ip_range6, aux_addresses6)):
            if ip_range_ and parent:
                pool["IPRange" + family] = str(ipam.ip_range_in(parent, ip_range_))
            if aux and parent:
                pool["AuxiliaryAddresses" + family] = ipam.auxiliary_addresses(parent, aux)
        with self.registry.locked():
            with self.db.write() as c:
                if c.execute("SELECT 1 FROM networks WHERE name=?", (name,)).fetchone():
                    raise Conflict(f"network with name {name} already exists")
                if c.execute("SELECT 1 FROM networks WHERE bridge=?", (bridge,)).fetchone():
                    raise Conflict(f"bridge {bridge} is already used by another network")
                taken = self._taken_subnets(c)
                elsewhere = [(IPv4Network(s), o.owner) for o in self.registry.live() if o.owner != self.config.owner
                             for s in o.subnets or ()]
                if net is None:
                    net = ipam.free_subnet(taken + [n for n, _ in elsewhere])
                    gw = net.network_address + 1
                self._check_overlap(net, taken)
                if enable_ipv6:
                    taken6 = [ipaddress.ip_network(r[0]) for r in c.execute("SELECT subnet6 FROM networks WHERE subnet6 != ''")]
                    if net6 is None:
                        net6 = ipam.ula_subnet(taken6 + ipam.host_routes6())
                        gw6 = net6.network_address + 1
                    ipam.check_overlap(net6, taken6)
                for other, owner in elsewhere:
                    if other.overlaps(net):
                        raise Conflict(f"Pool overlaps with other one on this address space: {net} overlaps {other} "
                                       f"of a network of {self.registry.describe(owner)}")
                self.state.insert_network(c, Network(network_id, name, "bridge", False, bridge, str(net), str(gw),
                                                     internal, options, dict(labels or {}), time.time(), pool,
                                                     str(net6 or ""), str(gw6 or ""), attachable))
            self._register_subnets()
        self.events.emit("network", "create", network_id, name=name, type="bridge")
        return self.inspect(network_id)

    def inspect(self, name_or_id: str) -> dict:
        return self._resource(self._find(name_or_id))

    def list(self, filters: dict[str, Iterable[str] | str] | None = None) -> list[dict]:
        """Docker's filters: name (substring), id (prefix), driver, label (key or key=value),
        type (custom|builtin), scope, dangling; values of one filter are alternatives."""
        self._ensure_builtin()
        wanted = {k: [v] if isinstance(v, str) else list(v) for k, v in (filters or {}).items()}
        for key in wanted:
            if key not in FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        for value in wanted.get("type", ()):
            if value not in ("custom", "builtin"):
                raise InvalidArgument(f"invalid filter: 'type'='{value}'")
        return [r for r in (self._resource(n) for n in self.state.networks()) if _matches(r, wanted)]

    def remove(self, name_or_id: str) -> None:
        with self._locked():
            n = self._find(name_or_id)
            if n.builtin:
                raise Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
            with self.db.write() as c:
                users = c.execute("SELECT name FROM endpoints WHERE network_id=? ORDER BY name", (n.id,)).fetchall()
                if users:
                    raise Conflict(f"error while removing network: network {n.name} id {n.id} has active endpoints "
                                   f"({', '.join(r[0] for r in users)})")
                c.execute("DELETE FROM networks WHERE id=?", (n.id,))
            with self.registry.locked():
                self._register_subnets()
            self._retire_idle_networks(scan_host=True)
        self.events.emit("network", "destroy", n.id, name=n.name, type=n.driver)

    def prune(self, filters: dict[str, list[str]] | None = None) -> list[str]:
        """Remove user-defined networks no container uses, of those the prune `filters`
        (until, label, label!) select; returns their names."""
        from dockyard.filtering import selects
        removed = []
        for n in self.state.networks():
            if filters and not selects(filters, n.labels, n.created):
                continue
            if n.user_defined and not self.state.endpoints(network_id=n.id):
                try:
                    self.remove(n.id)
                except (Conflict, NotFound):  # someone attached or removed it meanwhile
                    continue
                removed.append(n.name)
        with self._locked():
            self._sync_firewall(self._retire_idle_networks(keep_default=False, scan_host=True))
        return removed

    # ---- containers ---------------------------------------------------------------------------

    def attach(self, container_id: str, name: str, *, mode: str = "bridge", hostname: str, files_dir: Path,
               endpoint: EndpointRequest = EndpointRequest(), more: dict[str, EndpointRequest] | None = None,
               ports: Iterable[PortSpec] = (), dns: Iterable[str] = (), dns_search: Iterable[str] = (),
               dns_options: Iterable[str] = (), add_hosts: Iterable[str] = (), domainname: str = "") -> Attachment:
        """Give a container its network: namespace, address, routes, published ports, DNS, files.
        `endpoint`: what it asks of the network of `mode`; `more`: other networks it joins too
        (NetworkingConfig naming several, API 1.44+), in that order. `domainname` goes with the
        hostname into /etc/hosts."""
        ports, add_hosts = list(ports), list(add_hosts)
        with self._locked():
            if self.state.sandbox(container_id):
                raise Conflict(f"container {container_id[:12]} is already attached to a network")
            self._ensure_builtin()
            kind, net, netns_path = self._resolve_mode(mode, container_id)
            extra = [(self._find(n), req) for n, req in (more or {}).items()]
            if net is None and (ports or endpoint.ipv4 or endpoint.mac or endpoint.aliases or extra):
                raise InvalidArgument(f"conflicting options: published ports, --ip, --mac-address, --network-alias "
                                      f"and other networks need a bridge network, not network mode {mode}")
            for server in dns:
                ipam.parse_address(server, "DNS server")
            for entry in add_hosts:
                files.parse_add_host(entry, net.gateway if net else None)
            sandbox = Sandbox(container_id, name.lstrip("/"), kind, netns_path or "", kind in ("network", "none"),
                              hostname, str(files_dir), {"servers": list(dns), "search": list(dns_search),
                                                         "options": list(dns_options), "add_hosts": add_hosts,
                                                         "domainname": domainname})
            with self.db.write() as c:  # the sandbox, its address lease and ports: one transaction
                self.state.insert_sandbox(c, sandbox)
                if net is not None:
                    ep = self._lease(c, sandbox, net, endpoint, seq=0)
                    self._reserve_ports(c, container_id, net.id, ports)
        try:
            # The namespace is this start's own and its path is recorded, so it is made without
            # the lock: other processes' starts and releases go on meanwhile, and a reconcile
            # keeps it (the container is being started: see reconcile's `in_use`).
            if sandbox.owns_netns:
                self.netlink.create_netns(Path(sandbox.netns_path))
            plumbed = True
            with self._locked():
                if net is not None:  # the rules for its bridge, address and ports go in once the veth is made
                    plumbed = self._plumbed_under_firewall_sync(net, ep, sandbox, extra)
                else:
                    for other, req in extra:
                        self._join(sandbox, other, req)
            if not plumbed:
                # No rule to wait for, so the veth pair is made after the lock is let go: the
                # endpoint is recorded and its bridge up, and no release, prune or repair of
                # another process takes either while the endpoint's row is there.
                self._veth(net, ep, sandbox, default_route=not net.internal)
            self._write_files(sandbox)
            if net is not None and not plumbed:  # its first packets are not dropped (bridge.wait_running)
                self.netlink.wait_running(ep.host_ifname)
        except BaseException:
            self.detach(container_id)
            raise
        return self._attachment(sandbox)

    def connect(self, container_id: str, network: str, endpoint: EndpointRequest = EndpointRequest()) -> Attachment:
        """Add a network to a running container's namespace (the next ethN)."""
        with self._locked():
            sandbox = self._sandbox(container_id)
            ep = self._join(sandbox, self._find(network), endpoint)
            try:
                self._sync_firewall()
                self._write_files(sandbox)
            except BaseException:
                self._release(container_id, [ep])
                raise
            return self._attachment(sandbox)

    def disconnect(self, container_id: str, network: str) -> Attachment:
        with self._locked():
            sandbox = self._sandbox(container_id)
            net = self._find(network)
            eps = [e for e in self.state.endpoints(container_id=container_id) if e.network_id == net.id]
            if not eps:
                raise NotFound(f"container {container_id} is not connected to network {net.name}")
            self._release(container_id, eps)
            self._write_files(sandbox)
            return self._attachment(sandbox)

    def detach(self, container_id: str) -> None:
        """Remove all network state of a container; safe to call twice or after a crash."""
        with self._locked():
            self._release(container_id, None)

    def host_objects(self) -> dict[str, str]:
        """The names this root's network objects carry on the host, as `info` shows them."""
        bridge = self._find("bridge")
        return {"ID": self.config.owner, "DefaultBridge": bridge.bridge, "DefaultSubnet": bridge.subnet,
                "NftTable": f"{firewall.FAMILY} {self.config.nft_table}"}

    def attachment(self, container_id: str) -> Attachment | None:
        sandbox = self.state.sandbox(container_id)
        return self._attachment(sandbox) if sandbox else None

    def reconcile(self, live_container_ids: set[str], *, repair: bool = True,
                  in_use: Callable[[str], bool] = lambda container_id: False) -> list[str]:
        """Match the kernel to the records: what dead containers left (DB rows, veths,
        namespaces, DNS servers), idle bridges, and this root's firewall rules (put back if
        someone flushed them). Only this root's objects are looked at: links by their tag, the
        namespaces and DNS servers of its own run dir, its own nft table. `in_use` is asked,
        under the network lock, of each container outside `live_container_ids` that has a
        network: whether it runs or is being started by now (another process's start must
        keep the network it just made).

        Returns one line per thing found wrong: changed when `repair`, else only reported."""
        found: list[str] = []
        with self._locked():
            for s in self.state.sandboxes():
                if s.container_id not in live_container_ids and not in_use(s.container_id):
                    found.append(f"network state of container {s.container_id[:12]} ({s.name}), which is not running")
                    if repair:
                        self._release(s.container_id, None)
            known = {e.host_ifname for e in self.state.endpoints()}
            for ifname in sorted(self.netlink.tagged_links(self.tag + "ep:")):
                if ifname not in known:
                    found.append(f"link {ifname} of no container")
                    if repair:
                        self.netlink.delete_link(ifname)
            pinned = {s.netns_path for s in self.state.sandboxes() if s.owns_netns}
            netns_dir = self.run_dir / "netns"
            for path in sorted(netns_dir.iterdir()) if netns_dir.is_dir() else ():
                if str(path) not in pinned:
                    found.append(f"network namespace {path} of no container")
                    if repair:
                        self.netlink.remove_netns(path)
            bridges, active, servers = self._idle(scan_host=True)
            found += [f"bridge {ifname} with no container" for ifname in sorted(bridges)]
            found += [f"DNS server of network {n[:12]} with no container" for n in sorted(servers)]
            if repair:  # the table follows the bridges first, so what is left to find is drift
                active = self._retire_idle_networks(scan_host=True)
                self._sync_firewall(active)
            else:
                active |= set(bridges.values())
            drift = self._firewall_drift(active)
            found += drift
            if repair and drift:
                self._sync_firewall(active, force=True)
        return found

    # ---- internals ----------------------------------------------------------------------------

    def _locked(self) -> ContextManager[None]:
        return exclusive(self.run_dir / "network.lock")

    def _ensure_builtin(self) -> None:
        """The predefined networks: `bridge` (the default), `host` and `none`, made on first use."""
        if self._builtin_ready:
            return
        if self.db.one("SELECT count(*) FROM networks WHERE builtin=1")[0] < 3:
            with self.db.write() as c:
                have = {r[0] for r in c.execute("SELECT name FROM networks WHERE builtin=1")}
                if "bridge" not in have:
                    taken = self._taken_subnets(c)
                    if self.config.default_subnet:
                        net = ipam.parse_subnet(self.config.default_subnet)
                        try:
                            self._check_overlap(net, taken)
                        except Conflict as e:
                            raise Conflict(f"cannot make the default bridge network on {net}: {e}") from None
                    elif self.config.identity_subnet:
                        net = ipam.identity_subnet(self.config.owner, taken)
                    else:
                        net = ipam.free_subnet(taken)
                    options = {"com.docker.network.bridge.default_bridge": "true",
                               BRIDGE_NAME_OPTION: self.config.bridge_name}
                    self.state.insert_network(c, Network(os.urandom(32).hex(), "bridge", "bridge", True,
                                                         self.config.bridge_name, str(net), str(net.network_address + 1),
                                                         False, options, {}, time.time()))
                for name, driver in (("host", "host"), ("none", "null")):
                    if name not in have:
                        self.state.insert_network(c, Network(os.urandom(32).hex(), name, driver, True, "", "", "",
                                                             False, {}, {}, time.time()))
        mine = self.registry.claim(self.config.owner)
        if mine is not None and mine.subnets is None:  # registered anew (the host rebooted): list them again
            with self.registry.locked():
                self._register_subnets()
        self._builtin_ready = True

    def _register_subnets(self) -> None:
        """List the subnets of this root's user-defined networks in its entry of the host's
        registry, so other roots allocate none of them (call under the registry's lock)."""
        mine = self.registry.claim(self.config.owner)
        subnets = tuple(sorted(n.subnet for n in self.state.networks() if n.user_defined))
        if mine is not None and mine.subnets != subnets:
            self.registry.record(replace(mine, subnets=subnets))

    def _taken_subnets(self, c: sqlite3.Connection) -> list[IPv4Network]:
        ours = [IPv4Network(r[0]) for r in c.execute("SELECT subnet FROM networks WHERE subnet != ''")]
        return ours + [net for net, _ in self.host_routes()]

    def _check_overlap(self, net: IPv4Network, taken: list[IPv4Network]) -> None:
        """Docker's error for a subnet that overlaps another, naming what holds it when that is
        a host route (another root's bridge, or anything else of the host's)."""
        try:
            ipam.check_overlap(net, taken)
        except Conflict as e:
            holder = self._route_holder(net)
            raise Conflict(f"{e}: {net} overlaps {holder}" if holder else str(e)) from None

    def _route_holder(self, net: IPv4Network, *, except_link: str | None = None) -> str | None:
        """What on the host holds a route overlapping `net`: "10.255.3.0/24 of bridge dy-… of
        dockyard root /path (id)", or of a link of no dockyard root; None when nothing does."""
        for route, dev in self.host_routes():
            if dev == except_link or not route.overlaps(net):
                continue
            owner = owners.owner_of_alias(self.netlink.link_alias(dev) or "")
            if owner == self.config.owner:
                return f"{route} of bridge {dev} of this root"
            return f"{route} of {'bridge ' + dev + ' of ' + self.registry.describe(owner) if owner else 'host link ' + dev}"
        return None

    def _find(self, name_or_id: str) -> Network:
        self._ensure_builtin()
        nets = self.state.networks()
        for pick in (lambda n: n.name == name_or_id, lambda n: n.id == name_or_id):
            found = [n for n in nets if pick(n)]
            if found:
                return found[0]
        found = [n for n in nets if name_or_id and n.id.startswith(name_or_id)]
        if len(found) > 1:
            raise InvalidArgument(f"network {name_or_id} is ambiguous ({len(found)} matches found)")
        if not found:
            raise NotFound(f"network {name_or_id} not found")
        return found[0]

    def _network(self, network_id: str) -> Network:
        n = self.state.network(network_id)
        if n is None:
            raise NotFound(f"network {network_id} not found")
        return n

    def _sandbox(self, container_id: str) -> Sandbox:
        s = self.state.sandbox(container_id)
        if s is None:
            raise NotFound(f"container {container_id[:12]} has no network attachment")
        return s

    def _resolve_mode(self, mode: str, container_id: str) -> tuple[str, Network | None, str | None]:
        """(kind, network, netns path) for --network host | none | container:<netns path> | <network>."""
        if mode.startswith("container:"):
            path = mode.split(":", 1)[1]
            if not Path(path).exists():
                raise NotFound(f"network namespace {path} not found: is the container running?")
            return "container", None, path
        net = self._find("bridge" if mode == "default" else mode)
        own_netns = str(self.run_dir / "netns" / container_id)
        if net.driver == "host":
            return "host", None, None
        if net.driver == "null":
            return "none", None, own_netns
        return "network", net, own_netns

    def _join(self, sandbox: Sandbox, net: Network, req: EndpointRequest) -> Endpoint:
        """One more network in a sandbox that has its own (the next ethN); the default route
        stays with the first network that routes. The caller syncs the firewall."""
        if sandbox.mode != "network":
            raise InvalidArgument(f"container {sandbox.container_id[:12]} uses network mode {sandbox.mode} "
                                  "and cannot be connected to other networks")
        if net.driver != "bridge":
            raise InvalidArgument(f"container cannot be connected to network {net.name} of driver {net.driver}")
        existing = self.state.endpoints(container_id=sandbox.container_id)
        if any(e.network_id == net.id for e in existing):
            raise Forbidden(f"endpoint with name {sandbox.name} already exists in network {net.name}")
        with self.db.write() as c:
            ep = self._lease(c, sandbox, net, req, seq=max((e.seq for e in existing), default=-1) + 1)
        routed = any(not self._network(e.network_id).internal for e in existing)
        try:
            self._plumb(net, ep, sandbox, default_route=not (net.internal or routed))
        except BaseException:
            self._release(sandbox.container_id, [ep])
            raise
        return ep

    def _lease(self, c: sqlite3.Connection, sandbox: Sandbox, net: Network, req: EndpointRequest, seq: int) -> Endpoint:
        """Record the endpoint; its row is the IP lease."""
        if net.builtin and req.ipv4:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if net.builtin and req.aliases:
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        if req.ipv6 and not net.subnet6:
            raise InvalidArgument(f"invalid IPv6 address {req.ipv6}: network {net.name} has no IPv6 subnet")
        subnet, gateway = IPv4Network(net.subnet), IPv4Address(net.gateway)
        used = self.state.leased(c, net.id)
        reserved = (net.ipam.get("AuxiliaryAddresses") or {}).values()
        if req.ipv4:
            addr = ipam.check_address(req.ipv4, subnet, gateway, used, reserved)
        else:
            pool = IPv4Network(net.ipam["IPRange"]) if net.ipam.get("IPRange") else None
            addr = ipam.next_address(subnet, gateway, used, net.name, pool=pool, reserved=reserved)
        addr6 = ""
        if net.subnet6:
            subnet6, gateway6 = ipaddress.IPv6Network(net.subnet6), ipaddress.IPv6Address(net.gateway6)
            used6 = self.state.leased(c, net.id, "ip6")
            reserved6 = (net.ipam.get("AuxiliaryAddresses6") or {}).values()
            pool6 = ipaddress.IPv6Network(net.ipam["IPRange6"]) if net.ipam.get("IPRange6") else None
            addr6 = str(ipam.check_address(req.ipv6, subnet6, gateway6, used6, reserved6) if req.ipv6
                        else ipam.next_address(subnet6, gateway6, used6, net.name, pool=pool6, reserved=reserved6))
        if req.mac is not None and not MAC_RE.match(req.mac.lower()):
            raise InvalidArgument(f"invalid MAC address {req.mac}")
        endpoint_id = os.urandom(32).hex()
        ep = Endpoint(sandbox.container_id, net.id, endpoint_id, sandbox.name, list(req.aliases), f"eth{seq}",
                      "dy" + endpoint_id[:11], str(addr), (req.mac or ipam.mac_for(addr)).lower(), req.ipv4 or "", seq,
                      req.kept(), addr6)
        self.state.insert_endpoint(c, ep)
        return ep

    def _reserve_ports(self, c: sqlite3.Connection, container_id: str, network_id: str, specs: list[PortSpec]) -> None:
        """Pick and record host ports; refuse ports a host process or another container holds."""
        for spec in specs:
            port = spec.host_port
            if port == 0:
                port = ephemeral_port(spec.host_ip, spec.proto)
                while self.state.port_holder(c, spec.host_ip, port, spec.proto):
                    port = ephemeral_port(spec.host_ip, spec.proto)
            elif self.state.port_holder(c, spec.host_ip, port, spec.proto) or not host_port_free(spec.host_ip, port, spec.proto):
                raise Conflict(f"Bind for {spec.host_ip or '0.0.0.0'}:{port} failed: port is already allocated")
            self.state.insert_port(c, container_id, network_id,
                                   PortBinding(spec.host_ip, port, spec.container_port, spec.proto))

    def _plumbed_under_firewall_sync(self, net: Network, ep: Endpoint, sandbox: Sandbox,
                                     extra: list[tuple[Network, EndpointRequest]]) -> bool:
        """A start's veths (`net`'s, then `extra`'s), then, once its veth passes traffic, the nft
        batch for the firewall they need, so its ports lead somewhere from the first packet. When the firewall is as it
        should be already (most starts), `net`'s bridge is set up but not its veth, and False
        is returned: the caller makes it without the lock."""
        finish = self._begin_firewall_sync({*self._bridges().values(), net.id, *(other.id for other, _ in extra)})
        if finish is _in_sync:
            self._bridge_up(net)
            for other, req in extra:
                self._join(sandbox, other, req)
            return False
        self._plumb(net, ep, sandbox, default_route=not net.internal)  # on failure, the caller's detach syncs
        for other, req in extra:
            self._join(sandbox, other, req)
        self.netlink.wait_running(ep.host_ifname)
        finish()
        return True

    def _plumb(self, net: Network, ep: Endpoint, sandbox: Sandbox, *, default_route: bool) -> None:
        """Bridge (made with the network's first container), DNS server, veth into the namespace."""
        self._bridge_up(net)
        self._veth(net, ep, sandbox, default_route=default_route)

    def _bridge_up(self, net: Network) -> None:
        """The network's bridge and DNS server, made with its first container (under the lock)."""
        self._check_bridge_owner(net)
        self.netlink.ensure_bridge(net.bridge, net.gateway, net.prefixlen, f"{self.tag}net:{net.id}", self._mtu(net),
                                   net.gateway6, net.prefixlen6)
        self.fw.set_sysctl(f"net/ipv4/conf/{net.bridge}/route_localnet", "1")
        host, upstream = self.host_resolvers()
        if net.user_defined or not files.reachable_servers(host, upstream):
            self.dns.start(net.id, net.gateway, list(host.nameservers), names=net.user_defined,
                           loopback6=bool(net.subnet6))

    def _veth(self, net: Network, ep: Endpoint, sandbox: Sandbox, *, default_route: bool) -> None:
        """The endpoint's veth pair: one end on the bridge, the other in the namespace."""
        self.netlink.add_endpoint(host_ifname=ep.host_ifname, bridge=net.bridge, netns_path=sandbox.netns_path,
                                  ifname=ep.ifname, mac=ep.mac, address=ep.ip, prefixlen=net.prefixlen,
                                  address6=ep.ip6, prefixlen6=net.prefixlen6,
                                  gateway6=net.gateway6 if default_route and net.gateway6 else None,
                                  link_local=(ep.config.get("IPAMConfig") or {}).get("LinkLocalIPs") or (),
                                  gateway=net.gateway if default_route else None, tag=f"{self.tag}ep:{ep.container_id}",
                                  mtu=self._mtu(net))

    def _check_bridge_owner(self, net: Network) -> None:
        """Refuse, in one line naming the other owner, to take over another dockyard root's
        bridge, or to bring up a bridge whose subnet another link's route holds. A bridge of
        the host's own (no dockyard alias) is used as it is, as Docker does for
        com.docker.network.bridge.name."""
        alias = self.netlink.link_alias(net.bridge)
        if alias is not None and self._bridge_network(alias) == net.id:
            return  # ours, made by an earlier container
        owner = owners.owner_of_alias(alias or "")
        if owner:
            raise Conflict(f"cannot use bridge {net.bridge} for network {net.name}: it belongs to "
                           f"{self.registry.describe(owner)}")
        if alias is not None:
            return
        holder = self._route_holder(IPv4Network(net.subnet), except_link=net.bridge)
        if holder:
            raise Conflict(f"cannot bring up network {net.name}: its subnet {net.subnet} overlaps {holder}")

    def _mtu(self, net: Network) -> int:
        """The network's com.docker.network.driver.mtu option, else the engine's (daemon.json)."""
        return int(net.options.get(MTU_OPTION) or self.config.mtu)

    def _release(self, container_id: str, endpoints: list[Endpoint] | None) -> None:
        """Undo `endpoints` of a container, or (None) everything it has: veths, namespace, rows,
        rules, then conntrack entries (last, so no new entry can match a rule still in place)."""
        whole = endpoints is None
        if whole:
            endpoints = self.state.endpoints(container_id=container_id)
        netns_path = self._own_netns(container_id) if whole else None
        # A namespace nobody else joined takes its veths with it when it goes: the kernel frees
        # them in the background (gone within ~50 ms), where `ip link del` waits ~20 ms for it.
        joined = netns_path is not None and any(s.netns_path == str(netns_path) and s.container_id != container_id
                                                for s in self.state.sandboxes())
        if netns_path is None or joined:
            for e in endpoints:
                self.netlink.delete_link(e.host_ifname)
        if netns_path is not None:
            self.netlink.remove_netns(netns_path)
        with self.db.write() as c:
            if whole:
                self.state.delete_sandbox(c, container_id)
            else:
                for e in endpoints:
                    self.state.delete_endpoint(c, container_id, e.network_id)
        if not endpoints:
            return  # none, host or container mode: no bridge, rule or connection to touch
        self._sync_firewall(self._retire_idle_networks())
        self.fw.forget_connections(*(ip for e in endpoints for ip in (e.ip, e.ip6) if ip))

    def _own_netns(self, container_id: str) -> Path | None:
        """The namespace the container made for itself (recorded, or left by a crash), if any."""
        sandbox = self.state.sandbox(container_id)
        if sandbox and sandbox.owns_netns:
            return Path(sandbox.netns_path)
        own = self.run_dir / "netns" / container_id
        return own if own.exists() else None

    def _retire_idle_networks(self, keep_default: bool = True, *, scan_host: bool = False) -> set[str]:
        """A DNS server lives only while its network has a container on it, and so does the
        bridge of a user network. The default bridge stays once made (as docker0 does):
        making and deleting it would cost every `run` on it ~150 ms; `network prune` removes it.
        Returns the networks whose bridge is left: those the firewall serves. `scan_host`:
        as for `_bridges`."""
        bridges, kept, servers = self._idle(keep_default, scan_host=scan_host)
        gateways = []
        for ifname, network_id in bridges.items():
            self.netlink.delete_link(ifname)
            net = self.state.network(network_id)
            if net:  # the bridge's own traffic (IGMP reports) leaves entries too
                gateways.append(net.gateway)
        self.fw.forget_connections(*gateways)
        for network_id in servers:
            self.dns.stop(network_id)
        return kept

    def _idle(self, keep_default: bool = True, *, scan_host: bool = False) -> tuple[dict[str, str], set[str], set[str]]:
        """What `_retire_idle_networks` takes down and keeps: our bridges of networks no
        container uses (interface -> network ID; the default one only when not `keep_default`,
        or when its network is gone), the networks whose bridge stays, and the DNS servers of
        networks no container uses."""
        in_use = {r[0] for r in self.db.query("SELECT DISTINCT network_id FROM endpoints")}
        bridges, kept = {}, set()
        for ifname, network_id in self._bridges(scan_host=scan_host).items():
            net = self.state.network(network_id) if network_id not in in_use else None
            if network_id in in_use or (keep_default and net is not None and not net.user_defined):
                kept.add(network_id)
            else:
                bridges[ifname] = network_id
        return bridges, kept, self.dns.running() - in_use

    def _bridges(self, *, scan_host: bool = False) -> dict[str, str]:
        """Our bridges that exist: interface name -> network ID (from the link's alias). Only
        the links our networks name are looked at, unless `scan_host`: then every link on the
        host, which also finds the bridge of a network just removed or lost to a crash. That
        costs a look at every other root's links too (a busy root has one per container), so
        a container's start and exit never scan."""
        if scan_host:
            links = self.netlink.tagged_links("dockyard:")
        else:
            links = {n.bridge: alias for n in self.state.networks()
                     if n.bridge and (alias := self.netlink.link_alias(n.bridge)) is not None}
        found = {ifname: self._bridge_network(alias) for ifname, alias in links.items()}
        return {ifname: network_id for ifname, network_id in found.items() if network_id}

    def _bridge_network(self, alias: str) -> str | None:
        """The network whose bridge carries `alias`, if the bridge is ours: tagged with our
        identity, or made before roots had one (tagged with an nft table's name instead) for a
        network of ours (network IDs are random: only we have that one)."""
        owner, _, rest = alias.removeprefix("dockyard:").partition(":")
        if not alias.startswith("dockyard:") or not rest.startswith("net:"):
            return None
        network_id = rest[len("net:"):]
        if owner == self.config.owner:
            return network_id
        if not ID_RE.match(owner) and self.state.network(network_id) is not None:
            return network_id
        return None

    def _firewall_drift(self, active: set[str]) -> list[str]:
        """How the kernel differs from the rules this root's networks and ports need: its
        table's chains holding another number of rules (or missing: a flush), a table left
        with no network in use, accept rules in Docker's chains to add or drop."""
        nets, rules = self.state.firewall_state(active)
        table = self.config.nft_table
        drift = []
        if nets:
            wanted: dict[tuple[str, str], int] = {}  # (chain|map, name) -> rules|elements
            for cmd in firewall.ruleset(table, nets, rules):
                add = cmd.get("add", {})
                if "chain" in add or "map" in add:
                    kind = "chain" if "chain" in add else "map"
                    wanted.setdefault((kind, add[kind]["name"]), 0)
                elif "rule" in add:
                    wanted["chain", add["rule"]["chain"]] += 1
                elif "element" in add:
                    wanted["map", add["element"]["name"]] += len(add["element"]["elem"])
            for (kind, name), count in wanted.items():
                if kind == "chain":
                    objs = self.fw.list_chain(firewall.FAMILY, table, name)
                    have = None if objs is None else sum("rule" in o for o in objs)
                else:
                    objs = self.fw.list_map(firewall.FAMILY, table, name)
                    have = None if objs is None else sum(len(o["map"].get("elem", ())) for o in objs if "map" in o)
                what = "rules" if kind == "chain" else "elements"
                if have != count:
                    drift.append(f"nft {kind} {firewall.FAMILY} {table} {name}: "
                                 + ("missing" if have is None else f"{have} {what} where {count} belong"))
            if len(drift) == len(wanted) and all(d.endswith(": missing") for d in drift):
                drift = [f"nft table {firewall.FAMILY} {table}: missing"]
        elif self.fw.list_chain(firewall.FAMILY, table, "ports") is not None:
            drift.append(f"nft table {firewall.FAMILY} {table} with no network in use")
        changes = firewall.forward_accept_changes(
            table, self.fw.list_chain("ip", "filter", "FORWARD"), self.fw.list_chain("ip", "filter", "DOCKER-USER"),
            sorted(n.bridge for n in nets))
        drift += [f"accept rule for our bridges in ip filter {c[verb]['rule']['chain']} to {verb}"
                  for c in changes for verb in c]
        return drift

    def _sync_firewall(self, active: set[str] | None = None, *, force: bool = False) -> None:
        """Make our nft table and Docker-chain accept rules match the networks whose bridge
        exists and the published ports. Skipped when that is what the last sync applied (kept
        in the run dir): most starts and removals, on the default bridge and without published
        ports, then cost no nft batch at all; one that changes only published ports adds or
        deletes their map elements. `reconcile` forces it (the API server at start,
        `system check --repair`), so rules lost to someone flushing the ruleset come back.
        `active`: the networks whose bridge exists, when the caller knows them already."""
        self._begin_firewall_sync(active, force=force)()

    def _begin_firewall_sync(self, active: set[str] | None = None, *, force: bool = False) -> Callable[[], None]:
        """_sync_firewall in two halves: the ruleset is worked out now (from the records as they
        are: a start learns whether it has rules to wait for, _in_sync when not), and the call
        returned runs the nft batches and records the sync. A start makes its veth in
        between: its ports must lead nowhere before the veth exists (a SYN DNATed to an
        address with nothing behind it is lost, and TCP tries again only a second later).
        Called and finished under the network lock."""
        if active is None:
            active = set(self._bridges().values())
        nets, rules = self.state.firewall_state(active)
        table = self.config.nft_table
        structure = firewall.ruleset(table, nets, ()) if nets else firewall.teardown(table)
        elements = firewall.port_elements(rules) if nets else []
        bridges = sorted(n.bridge for n in nets)
        wanted = json.dumps([structure, bridges, elements], sort_keys=True)
        applied = self.run_dir / f"firewall-{table}.json"
        last = _read_text(applied)
        if not force and last == wanted:
            return _in_sync
        # The table as the last sync left it, but for the published ports: only their elements change.
        before = None if force else _applied_elements(last, json.dumps([structure, bridges], sort_keys=True))
        applied.unlink(missing_ok=True)  # a failure below must not leave a record claiming success
        if nets:
            self.fw.set_sysctl("net/ipv4/ip_forward", "1")
        if any(n.subnet6 for n in nets):
            self.fw.set_sysctl("net/ipv6/conf/all/forwarding", "1")

        def apply() -> None:
            if before is not None:
                try:
                    self.fw.apply(firewall.element_changes(table, before, elements))
                    return
                except DockyardError:  # the kernel's table is not what the record says (flushed): rebuild it
                    pass
            self.fw.apply(structure + firewall.element_changes(table, [], elements))
            # The accept rules in Docker's chains follow the bridges alone: a change of published
            # ports (each `run -p`) leaves them as the last sync made them, and skips the two
            # `nft list` runs that reading Docker's chains costs.
            if force or _applied_bridges(last) != bridges:
                self.fw.apply(firewall.forward_accept_changes(
                    table, self.fw.list_chain("ip", "filter", "FORWARD"),
                    self.fw.list_chain("ip", "filter", "DOCKER-USER"), bridges))

        def finish() -> None:
            apply()
            tmp = applied.with_suffix(".tmp")
            tmp.write_text(wanted)
            tmp.replace(applied)
        return finish

    def _write_files(self, sandbox: Sandbox) -> None:
        """hosts, hostname, resolv.conf: user networks resolve through their gateway's DNS server,
        the default bridge through the host's servers (loopback ones replaced)."""
        host, upstream = self.host_resolvers()
        conf = sandbox.dns
        eps = self.state.endpoints(container_id=sandbox.container_id)
        nets = [self._network(e.network_id) for e in eps]
        gateway = nets[0].gateway if nets else None
        extra = [files.parse_add_host(h, gateway) for h in conf["add_hosts"]]
        if sandbox.mode == "host":
            hosts = _read_text(Path("/etc/hosts")) + "".join(f"{ip}\t{name}\n" for name, ip in extra)
            servers = list(host.nameservers)
        else:
            hosts = files.hosts_file(sandbox.hostname, eps[0].ip if eps else None, extra, conf.get("domainname", ""),
                                     ip6=eps[0].ip6 or None if eps else None)
            user = [n for n in nets if n.user_defined]
            if user:
                servers = [user[0].gateway]
            else:
                servers = files.reachable_servers(host, upstream) or ([gateway] if gateway else [])
        resolv = files.resolv_conf(conf["servers"] or servers, conf["search"] or host.search,
                                   conf["options"] or host.options)
        files.write_files(Path(sandbox.files_dir), hostname=sandbox.hostname, hosts=hosts, resolv=resolv)

    def _attachment(self, sandbox: Sandbox) -> Attachment:
        eps = self.state.endpoints(container_id=sandbox.container_id)
        networks = {}
        for e in eps:
            n = self._network(e.network_id)
            networks[n.name] = _endpoint_settings(n, e)
        if sandbox.mode in ("host", "none"):
            n = self._find(sandbox.mode)
            networks[n.name] = _endpoint_settings(n, None)
        primary = eps[0] if eps else None
        return Attachment(netns_path=sandbox.netns_path or None, ip=primary.ip if primary else None,
                          gateway=self._network(primary.network_id).gateway if primary else None,
                          mac=primary.mac if primary else None, ports=self.state.ports(sandbox.container_id),
                          networks=networks, ip6=primary.ip6 or None if primary else None)

    def _resource(self, n: Network) -> dict:
        """Docker's NetworkResource, as `docker network inspect` prints it."""
        containers = {e.container_id: {"Name": e.name, "EndpointID": e.endpoint_id, "MacAddress": e.mac,
                                       "IPv4Address": f"{e.ip}/{n.prefixlen}",
                                       "IPv6Address": f"{e.ip6}/{n.prefixlen6}" if e.ip6 else ""}
                      for e in self.state.endpoints(network_id=n.id)}
        return {
            "Name": n.name, "Id": n.id, "Created": _timestamp(n.created), "Scope": "local", "Driver": n.driver,
            "EnableIPv6": bool(n.subnet6),
            "IPAM": {"Driver": "default", "Options": n.ipam.get("Options"),
                     "Config": [_pool(n, family) for family in ("", "6") if (n.subnet6 if family else n.subnet)]},
            "Internal": n.internal, "Attachable": n.attachable, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": containers, "Options": n.options, "Labels": n.labels,
        }


def _endpoint_settings(n: Network, e: Endpoint | None) -> dict:
    """Docker's EndpointSettings of endpoint `e` on `n` (None: host or none mode)."""
    if e is None:
        return endpoint_settings({}, None, network_id=n.id)
    kept = e.config or ({"IPAMConfig": {"IPv4Address": e.requested_ip}} if e.requested_ip else {})
    return endpoint_settings(kept, e.aliases, network_id=n.id, endpoint_id=e.endpoint_id, gateway=n.gateway,
                             ip=e.ip, prefixlen=n.prefixlen, mac=e.mac, gateway6=n.gateway6 if e.ip6 else "",
                             ip6=e.ip6, prefixlen6=n.prefixlen6 if e.ip6 else 0,
                             dns_names=[e.name, e.container_id[:12], *e.aliases] if n.user_defined else None)


def _pool(n: Network, family: str) -> dict:
    """An IPAM pool ("" IPv4, "6" IPv6) as Docker shows it: Subnet, IPRange, Gateway,
    AuxiliaryAddresses (when set)."""
    pool = {"Subnet": n.subnet6 if family else n.subnet, "IPRange": n.ipam.get("IPRange" + family),
            "Gateway": n.gateway6 if family else n.gateway, "AuxiliaryAddresses": n.ipam.get("AuxiliaryAddresses" + family)}
    return {k: v for k, v in pool.items() if v}


def _matches(r: dict, filters: dict[str, list[str]]) -> bool:
    checks = {
        "name": lambda v: term_matches(v, r["Name"]),
        "id": lambda v: r["Id"].startswith(v),
        "driver": lambda v: r["Driver"] == v,
        "scope": lambda v: r["Scope"] == v,
        "type": lambda v: v == ("builtin" if r["Name"] in ("bridge", "host", "none") else "custom"),
        "label": lambda v: label_matches(r["Labels"], v),
        "dangling": lambda v: (v.lower() in ("1", "true")) == (not r["Containers"] and r["Name"] not in ("bridge", "host", "none")),
    }
    # label filters must all hold (docker's MatchKVList); other keys' values are alternatives
    return all((all if k == "label" else any)(checks[k](v) for v in values) for k, values in filters.items())


def _timestamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _applied_bridges(record: str) -> list[str] | None:
    """The bridges of a firewall record that _sync_firewall wrote, None for no (readable) record."""
    try:
        return json.loads(record)[1]
    except (ValueError, IndexError, TypeError):
        return None


def _applied_elements(record: str, table_and_bridges: str) -> list | None:
    """The port elements of a firewall record that _sync_firewall wrote, when the rest of it (the
    table's structure and the bridges) is `table_and_bridges`; None otherwise."""
    try:
        structure, bridges, elements = json.loads(record)
    except (ValueError, TypeError):
        return None
    return elements if json.dumps([structure, bridges], sort_keys=True) == table_and_bridges else None


def _in_sync() -> None:
    """What _begin_firewall_sync returns when the firewall already matches: nothing to wait for."""


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
