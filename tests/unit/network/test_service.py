"""NetworkService logic against recording fakes: no root, no kernel."""

import json
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from dockyard.errors import Conflict, DockyardError, Forbidden, InvalidArgument, NotFound
from dockyard.network import firewall
from dockyard.network.owners import Claim
from dockyard.network.ports import parse_publish
from dockyard.network.endpoints import EndpointRequest
from dockyard.plainclass import replace

A, B, C = "a" * 64, "b" * 64, "c" * 64


def _free_ports(n):
    """Ports no host process holds now (a fixed port may belong to another engine's proxy)."""
    import socket
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


P1, P2 = _free_ports(2)


def attach(svc, cid, name, **kw):
    return svc.attach(cid, name, hostname=name, files_dir=svc.run_dir.parent / "files" / name, **kw)


def test_predefined_networks_are_listed_like_docker(svc):
    nets = {n["Name"]: n for n in svc.list()}
    assert {k: v["Driver"] for k, v in nets.items()} == {"bridge": "bridge", "host": "host", "none": "null"}
    assert nets["bridge"]["IPAM"]["Config"] == [{"Subnet": "10.213.200.0/24", "Gateway": "10.213.200.1"}]
    assert len(nets["bridge"]["Id"]) == 64 and nets["bridge"]["Scope"] == "local"


def test_create_picks_a_free_subnet_and_inspect_finds_it_by_name_or_id_prefix(svc):
    n = svc.create("front", labels={"tier": "web"})
    assert n["IPAM"]["Config"] == [{"Subnet": "10.88.0.0/16", "Gateway": "10.88.0.1"}]
    assert svc.inspect(n["Id"][:10])["Name"] == "front"
    assert [r["Name"] for r in svc.list({"label": "tier=web"})] == ["front"]
    assert [r["Name"] for r in svc.list({"type": "custom"})] == ["front"]


def test_bad_network_requests_create_nothing(svc):
    svc.create("front", subnet="10.213.1.0/24")
    with pytest.raises(Conflict, match="^network with name front already exists$"):
        svc.create("front", subnet="10.213.9.0/24")
    with pytest.raises(Conflict, match="^Pool overlaps with other one on this address space$"):
        svc.create("other", subnet="10.213.1.128/25")
    with pytest.raises(Conflict, match="Pool overlaps"):
        svc.create("hostclash", subnet="192.0.2.0/25")
    with pytest.raises(InvalidArgument, match="^invalid name: name is empty$"):
        svc.create("  ")
    assert sorted(n["Name"] for n in svc.list()) == ["bridge", "front", "host", "none"]
    assert svc.netlink.calls == [] and svc.fw.batches == []


def test_attach_plumbs_in_order_and_writes_files(svc):
    svc.create("front", subnet="10.213.1.0/24")
    a = attach(svc, A, "web", mode="front", endpoint=EndpointRequest(aliases=("www",)), ports=parse_publish(f"127.0.0.1:{P1}:80"))
    assert (a.ip, a.gateway, a.mac) == ("10.213.1.2", "10.213.1.1", "02:42:0a:d5:01:02")
    assert a.netns_path == str(svc.run_dir / "netns" / A)
    assert [c[0] for c in svc.netlink.calls] == ["create_netns", "ensure_bridge", "add_endpoint", "wait_running"]
    host_ifname, *inside = svc.netlink.calls[2][1:]
    assert host_ifname.startswith("dy") and len(host_ifname) <= 15
    assert inside == ["eth0", "10.213.1.2", "10.213.1.1"]
    files = svc.run_dir.parent / "files" / "web"
    assert (files / "resolv.conf").read_text().splitlines()[1:] == ["nameserver 10.213.1.1", "search example.org"]
    assert (files / "hosts").read_text().splitlines()[-1] == "10.213.1.2\tweb"
    assert svc.dns.servers == {svc.inspect("front")["Id"]: ("10.213.1.1", True)}
    assert svc.fw.published == {("hostaddr4", "127.0.0.1", "tcp", P1): "10.213.1.2",
                                ("hostport4", "127.0.0.1", "tcp", P1): 80}
    assert svc.fw.sysctls["net/ipv4/ip_forward"] == "1"
    assert a.networks["front"]["DNSNames"] == ["web", A[:12], "www"]


def test_default_bridge_uses_host_resolvers_and_no_dns_server(svc):
    a = attach(svc, A, "web")
    assert a.ip == "10.213.200.2" and "bridge" in a.networks
    assert "nameserver 192.0.2.53" in (svc.run_dir.parent / "files" / "web" / "resolv.conf").read_text()
    assert svc.dns.servers == {}


def test_addresses_are_not_reused_while_leased_and_freed_on_detach(svc):
    svc.create("front", subnet="10.213.1.0/29")
    ips = [attach(svc, c * 64, c, mode="front").ip for c in "abcde"]
    assert ips == [f"10.213.1.{i}" for i in range(2, 7)]
    with pytest.raises(Conflict, match="no available IPv4 addresses on network front"):
        attach(svc, "f" * 64, "f", mode="front")
    svc.detach(C)
    assert attach(svc, "f" * 64, "f", mode="front").ip == "10.213.1.4"


def test_port_conflicts_are_refused_before_anything_is_created(svc):
    attach(svc, A, "one", ports=parse_publish(f"{P1}:80"))
    calls, batches = len(svc.netlink.calls), len(svc.fw.batches)
    with pytest.raises(Conflict, match=f"^Bind for 127.0.0.1:{P1} failed: port is already allocated$"):
        attach(svc, B, "two", ports=parse_publish(f"{P2}:81") + parse_publish(f"127.0.0.1:{P1}:80"))
    assert svc.attachment(B) is None and len(svc.netlink.calls) == calls and len(svc.fw.batches) == batches
    assert attach(svc, B, "two", ports=parse_publish(f"{P1}:80/udp")).ports[0].host_port == P1


def test_port_held_by_a_host_process_is_refused(svc):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(Conflict, match=f"Bind for 127.0.0.1:{port} failed"):
            attach(svc, A, "web", ports=parse_publish(f"127.0.0.1:{port}:80"))
    assert svc.netlink.calls == []


def test_ip_outside_subnet_and_ip_on_default_bridge_are_refused(svc):
    svc.create("front", subnet="10.213.1.0/24")
    with pytest.raises(InvalidArgument, match="^invalid IPv4 address 10.213.2.5: it is not in subnet 10.213.1.0/24$"):
        attach(svc, A, "web", mode="front", endpoint=EndpointRequest(ipv4="10.213.2.5"))
    with pytest.raises(InvalidArgument, match="^user specified IP address is supported on user defined networks only$"):
        attach(svc, A, "web", endpoint=EndpointRequest(ipv4="10.213.200.9"))
    assert attach(svc, A, "web", mode="front", endpoint=EndpointRequest(ipv4="10.213.1.77")).ip == "10.213.1.77"
    assert svc.netlink.calls[0][0] == "create_netns"


def test_kernel_failure_rolls_everything_back(svc):
    svc.netlink.fail_on = "add_endpoint"
    with pytest.raises(DockyardError, match="injected failure"):
        attach(svc, A, "web", ports=parse_publish(f"{P1}:80"))
    assert svc.attachment(A) is None
    assert list(svc.netlink.links) == [svc.config.bridge_name] and svc.netlink.netns == set()  # the bridge stays
    assert svc.fw.table_present and svc.fw.published == {}  # its NAT stays, as docker0's


def test_a_published_port_is_forwarded_only_once_the_veth_behind_it_exists(svc):
    """A client polling the port while the container starts must never have its SYN DNATed
    to an address with no veth yet: the SYN is lost and TCP tries again only after 1 s."""
    made = []
    apply = svc.fw.apply
    svc.fw.apply = lambda commands: (made.append([c[0] for c in svc.netlink.calls]), apply(commands))
    attach(svc, A, "web", ports=parse_publish(f"{P1}:80"))
    dnat = [i for i, b in enumerate(svc.fw.batches) if f'["tcp", {P1}]' in json.dumps(b)]
    assert dnat and made[dnat[0]][-2:] == ["add_endpoint", "wait_running"]


def test_detach_removes_everything_and_is_idempotent(svc):
    svc.create("front", subnet="10.213.1.0/24")
    attach(svc, A, "web", mode="front", ports=parse_publish(f"{P1}:80"))
    svc.detach(A)
    svc.detach(A)
    assert svc.netlink.links == {} and svc.netlink.netns == set() and svc.dns.servers == {}
    assert not svc.fw.table_present and sorted(svc.fw.forgotten) == ["10.213.1.1", "10.213.1.2"]  # gateway too
    assert svc.inspect("front")["Containers"] == {}


def test_network_in_use_cannot_be_removed(svc):
    svc.create("front", subnet="10.213.1.0/24")
    attach(svc, A, "web", mode="front")
    attach(svc, B, "db", mode="front")
    n = svc.inspect("front")
    with pytest.raises(Conflict) as e:
        svc.remove("front")
    assert e.value.message == f"error while removing network: network front id {n['Id']} has active endpoints (db, web)"
    with pytest.raises(Forbidden, match="^bridge is a pre-defined network and cannot be removed$"):
        svc.remove("bridge")
    svc.detach(A), svc.detach(B)
    assert svc.prune() == ["front"]
    with pytest.raises(NotFound, match="network front not found"):
        svc.inspect("front")


def test_none_and_host_modes(svc):
    none = attach(svc, A, "iso", mode="none")
    assert none.ip is None and none.netns_path and list(none.networks) == ["none"]
    host = attach(svc, B, "h", mode="host")
    assert host.netns_path is None and list(host.networks) == ["host"]
    with pytest.raises(InvalidArgument, match="conflicting options"):
        attach(svc, C, "p", mode="host", ports=parse_publish("80"))
    assert [c[0] for c in svc.netlink.calls] == ["create_netns"]


def test_connect_and_disconnect_add_and_remove_an_interface(svc):
    svc.create("front", subnet="10.213.1.0/24")
    svc.create("back", subnet="10.213.2.0/24", internal=True)
    attach(svc, A, "web", mode="front")
    a = svc.connect(A, "back", EndpointRequest(aliases=("api",)))
    assert sorted(a.networks) == ["back", "front"] and a.networks["back"]["IPAddress"] == "10.213.2.2"
    assert svc.netlink.calls[-1][2:] == ("eth1", "10.213.2.2", None)  # internal: no default route
    with pytest.raises(Forbidden, match="already exists in network back"):
        svc.connect(A, "back")
    a = svc.disconnect(A, "back")
    assert list(a.networks) == ["front"]
    with pytest.raises(NotFound, match="is not connected to network back"):
        svc.disconnect(A, "back")


def test_reconcile_drops_dead_containers_and_orphans(svc):
    attach(svc, A, "live")
    attach(svc, B, "dead", ports=parse_publish(f"{P1}:80"))
    svc.netlink.links["dyorphan"] = "dockyard:0123abcd:ep:" + C
    svc.netlink.links["foreign0"] = "someone else"
    (svc.run_dir / "netns").mkdir(parents=True, exist_ok=True)
    (svc.run_dir / "netns" / C).touch()
    svc.reconcile({A})
    assert svc.attachment(B) is None and svc.attachment(A) is not None
    assert "dyorphan" not in svc.netlink.links and "foreign0" in svc.netlink.links
    assert str(svc.run_dir / "netns" / C) in [c[1] for c in svc.netlink.calls if c[0] == "remove_netns"]
    assert svc.fw.table_present


def test_runs_on_the_default_bridge_without_ports_touch_no_rule_after_the_first(svc):
    attach(svc, A, "first")
    svc.detach(A)
    batches = len(svc.fw.batches)
    for cid in (B, C):
        attach(svc, cid, "again")
        svc.detach(cid)
    assert len(svc.fw.batches) == batches
    attach(svc, A, "web", ports=parse_publish(f"{P1}:80"))
    assert svc.fw.published == {("addr4", "tcp", P1): "10.213.200.2", ("port4", "tcp", P1): 80}
    svc.detach(A)
    assert svc.fw.published == {} and svc.fw.forgotten[-1] == "10.213.200.2"
    assert svc.reconcile(set()) == [] and len(svc.fw.batches) == batches + 2  # nothing wrong, nothing applied
    svc.fw.apply(firewall.teardown("dyt"))  # someone flushed the ruleset
    assert svc.reconcile(set()) == ["nft table inet dyt: missing"]
    assert svc.fw.table_present and svc.reconcile(set()) == []
    svc.prune()
    assert not svc.fw.table_present


def test_a_publish_and_unpublish_change_only_their_own_port_elements(svc):
    attach(svc, A, "first", ports=parse_publish(f"{P1}:80"))
    table = svc.fw.last_ruleset
    attach(svc, B, "second", ports=parse_publish(f"127.0.0.1:{P2}:81/udp"))
    assert svc.fw.batches[-1] == firewall.element_changes("dyt", [], [
        ["hostaddr4", ["127.0.0.1", "udp", P2], "10.213.200.3"], ["hostport4", ["127.0.0.1", "udp", P2], 81]])
    svc.detach(A)
    assert [verb for c in svc.fw.batches[-1] for verb in c] == ["delete", "delete"]
    assert svc.fw.last_ruleset is table and svc.fw.published == {
        ("hostaddr4", "127.0.0.1", "udp", P2): "10.213.200.3", ("hostport4", "127.0.0.1", "udp", P2): 81}


def test_a_port_change_on_a_flushed_table_rebuilds_it_and_reconcile_puts_lost_elements_back(svc):
    attach(svc, A, "first", ports=parse_publish(f"{P1}:80"))
    attach(svc, B, "second", ports=parse_publish(f"{P2}:80"))
    svc.fw.apply(firewall.teardown("dyt"))  # someone flushed the ruleset: deleting B's elements fails
    svc.detach(B)
    assert svc.fw.published == {("addr4", "tcp", P1): "10.213.200.2", ("port4", "tcp", P1): 80}
    svc.fw.apply([{"delete": {"element": {"family": "inet", "table": "dyt", "name": "addr4",
                                          "elem": [{"concat": ["tcp", P1]}]}}}])
    assert svc.reconcile({A}, repair=False) == ["nft map inet dyt addr4: 0 elements where 1 belong"]
    assert svc.reconcile({A}) == ["nft map inet dyt addr4: 0 elements where 1 belong"]
    assert svc.reconcile({A}) == [] and ("addr4", "tcp", P1) in svc.fw.published


def test_docker_chains_are_read_only_when_the_bridges_change(svc):
    """Docker's FORWARD drops: the first container's sync puts accept rules for our bridge in
    DOCKER-USER; later port changes on the same bridge neither read nor touch Docker's chains,
    and a reconcile still checks them."""
    svc.fw.chains[("ip", "filter", "FORWARD")] = [{"chain": {"family": "ip", "table": "filter", "name": "FORWARD",
                                                             "policy": "drop"}}]
    svc.fw.chains[("ip", "filter", "DOCKER-USER")] = []
    listed = []
    real = svc.fw.list_chain
    svc.fw.list_chain = lambda family, table, chain: listed.append(chain) or real(family, table, chain)
    attach(svc, A, "first", ports=parse_publish(f"{P1}:80"))
    accepts = [b for b in svc.fw.batches if "insert" in b[0]]
    assert listed[-2:] == ["FORWARD", "DOCKER-USER"] and len(accepts) == 1
    assert {c["insert"]["rule"]["chain"] for c in accepts[0]} == {"DOCKER-USER"}
    listed.clear()
    attach(svc, B, "second", ports=parse_publish(f"{P2}:80"))
    svc.detach(B)
    assert listed == [] and [verb for b in svc.fw.batches[-2:] for c in b for verb in c] == ["add"] * 2 + ["delete"] * 2
    assert ("addr4", "tcp", P2) not in svc.fw.published and ("addr4", "tcp", P1) in svc.fw.published
    svc.reconcile({A})
    assert "FORWARD" in listed and "DOCKER-USER" in listed
    listed.clear()
    svc.detach(A)
    svc.prune()  # the default bridge goes: its accept rules are looked up (to be dropped)
    assert listed[-2:] == ["FORWARD", "DOCKER-USER"]


def test_a_namespace_shared_with_another_container_keeps_it_but_loses_the_veth(svc):
    web = attach(svc, A, "web")
    Path(web.netns_path).parent.mkdir(parents=True, exist_ok=True)
    Path(web.netns_path).touch()  # the fake kernel pins nothing
    attach(svc, B, "side", mode=f"container:{web.netns_path}")
    svc.detach(A)
    assert [c for c in svc.netlink.calls if c[0] == "delete_link"] != []
    attach(svc, C, "alone")
    calls = len(svc.netlink.calls)
    svc.detach(C)  # its namespace takes its veth along: no `ip link del` to wait for
    assert [c[0] for c in svc.netlink.calls[calls:]] == ["remove_netns"] and list(svc.netlink.links) == ["dyt0"]


def test_reconcile_reports_without_repair_and_repair_changes_just_what_it_reports(svc):
    attach(svc, A, "live", ports=parse_publish(f"{P1}:80"))
    attach(svc, B, "dead")
    svc.netlink.links["dyorphan"] = "dockyard:0123abcd:ep:" + C
    (svc.run_dir / "netns").mkdir(parents=True)
    (svc.run_dir / "netns" / C).touch()
    svc.fw.apply(firewall.teardown("dyt"))
    links, batches = dict(svc.netlink.links), len(svc.fw.batches)
    found = svc.reconcile({A}, repair=False)
    assert found == [f"network state of container {B[:12]} (dead), which is not running", "link dyorphan of no container",
                     f"network namespace {svc.run_dir / 'netns' / C} of no container",
                     "nft table inet dyt: missing"]
    assert svc.netlink.links == links and len(svc.fw.batches) == batches and svc.attachment(B) is not None
    assert svc.reconcile({A}) == found
    assert svc.attachment(B) is None and "dyorphan" not in svc.netlink.links and svc.fw.table_present
    assert svc.reconcile({A}) == [] and svc.reconcile({A}, repair=False) == []


def test_a_start_and_an_exit_look_at_no_other_roots_links(svc):
    """Only prune, remove and repair look at every link on the host (a busy root has one per
    container); a start and an exit look up their own bridges by name."""
    attach(svc, A, "first")
    svc.detach(A)
    svc.create("front", subnet="10.213.1.0/24")
    svc.netlink.scans = 0
    for cid in (B, C):
        attach(svc, cid, "again", mode="front")
        svc.detach(cid)
    assert svc.netlink.scans == 0 and "br-" + svc.inspect("front")["Id"][:12] not in svc.netlink.links
    svc.remove("front")  # finds the bridge of a network whose record is gone
    assert svc.netlink.scans == 1


def test_a_veth_pair_is_made_outside_the_network_lock(svc, monkeypatch):
    """The lock covers the records, the bridge and the firewall; when the firewall has nothing
    to apply, the `ip` runs of a container's own interface go on while other starts and exits
    of the root take it."""
    import fcntl

    def held() -> bool:
        with open(svc.run_dir / "network.lock", "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    seen = []
    for call in ("ensure_bridge", "add_endpoint"):
        real = getattr(svc.netlink, call)
        monkeypatch.setattr(svc.netlink, call, lambda *a, _real=real, _call=call, **kw: (seen.append((_call, held())),
                                                                                         _real(*a, **kw))[1])
    attach(svc, A, "web", ports=parse_publish(f"{P1}:80"))  # rules to apply: the veth is made as nft runs
    assert seen == [("ensure_bridge", True), ("add_endpoint", True)]
    assert svc.attachment(A).ports and ("addr4", "tcp", P1) in svc.fw.published
    seen.clear()
    attach(svc, B, "next")  # the rules as they are: no nft run to overlap, the veth after the lock
    assert seen == [("ensure_bridge", True), ("add_endpoint", False)]


def test_links_of_another_root_are_never_touched(svc):
    theirs = {"dyother": "dockyard:ffffffff:ep:" + C, "dy-ffffffff": "dockyard:ffffffff:net:" + "d" * 64}
    svc.netlink.links.update(theirs)
    attach(svc, A, "web")
    svc.create("front", subnet="10.213.1.0/24")
    assert svc.reconcile(set()) == [f"network state of container {A[:12]} (web), which is not running"]
    svc.prune()
    svc.detach(A)
    assert svc.netlink.links == theirs


def test_a_bridge_another_root_holds_or_a_subnet_another_link_routes_is_refused_naming_it(svc, tmp_path):
    other = tmp_path / "other-root"
    other.mkdir()
    (other / "root-id").write_text("ffffffff\n")  # a live root: its claim holds
    svc.registry.record(Claim("ffffffff", str(other), "dyt0", "dyo"))
    svc.netlink.links["dyt0"] = "dockyard:ffffffff:net:" + "d" * 64
    with pytest.raises(Conflict, match=r"^cannot use bridge dyt0 for network bridge: it belongs to dockyard root "
                                       rf"{other} \(ffffffff\)$"):
        attach(svc, A, "web")
    svc.netlink.links["dyt0"] = "dockyard:dockyard:net:" + "d" * 64
    with pytest.raises(Conflict, match="^cannot use bridge dyt0 for network bridge: it belongs to a dockyard engine "
                                       "of an earlier version \\(links tagged dockyard:dockyard:\\)$"):
        attach(svc, A, "web")
    del svc.netlink.links["dyt0"]
    svc.netlink.links["dy-ffffffff"] = "dockyard:ffffffff:net:" + "d" * 64
    svc.host_routes = lambda: [(IPv4Network("10.213.200.0/24"), "dy-ffffffff")]
    with pytest.raises(Conflict, match=r"^cannot bring up network bridge: its subnet 10.213.200.0/24 overlaps "
                                       rf"10.213.200.0/24 of bridge dy-ffffffff of dockyard root {other} \(ffffffff\)$"):
        attach(svc, A, "web")
    with pytest.raises(Conflict, match=r"^Pool overlaps with other one on this address space: 10.213.200.128/25 overlaps "
                                       rf"10.213.200.0/24 of bridge dy-ffffffff of dockyard root {other}"):
        svc.create("front", subnet="10.213.200.128/25")
    assert svc.state.sandboxes() == [] and [n["Name"] for n in svc.list()] == ["bridge", "host", "none"]


def test_a_bridge_made_before_roots_had_an_identity_is_still_ours(svc):
    bridge_id = svc.inspect("bridge")["Id"]
    svc.netlink.links["dyt0"] = f"dockyard:dockyard:net:{bridge_id}"  # tagged with an nft table's name, as before
    attach(svc, A, "web", ports=parse_publish(f"{P1}:80"))
    assert ("addr4", "tcp", P1) in svc.fw.published
    svc.detach(A)
    svc.prune()
    assert "dyt0" not in svc.netlink.links and not svc.fw.table_present


def test_a_root_other_than_the_default_one_makes_its_default_bridge_on_the_22_its_identity_points_at(svc):
    svc.config = replace(svc.config, default_subnet=None, identity_subnet=True)
    svc.host_routes = lambda: [(IPv4Network("10.255.53.0/24"), "dy-other")]  # in the /22 0123abcd points at: taken
    assert svc.host_objects() == {"ID": "0123abcd", "DefaultBridge": "dyt0", "DefaultSubnet": "10.255.56.0/22",
                                  "NftTable": "inet dyt"}


def test_user_network_subnets_are_registered_and_no_other_root_allocates_them(svc, tmp_path):
    other = tmp_path / "other-root"
    other.mkdir()
    (other / "root-id").write_text("ffffffff\n")
    svc.registry.record(Claim("ffffffff", str(other), "dy-ffffffff", "dockyard-ffffffff", ("10.88.0.0/16",)))
    svc.registry.record(Claim("0123abcd", str(svc.root), "dyt0", "dyt"))
    svc.root.mkdir(parents=True, exist_ok=True)
    (svc.root / "root-id").write_text("0123abcd\n")
    assert svc.create("front")["IPAM"]["Config"][0]["Subnet"] == "10.89.0.0/16"  # 10.88/16 is the other root's
    with pytest.raises(Conflict, match=rf"^Pool overlaps with other one on this address space: 10.88.1.0/24 overlaps "
                                       rf"10.88.0.0/16 of a network of dockyard root {other} \(ffffffff\)$"):
        svc.create("back", subnet="10.88.1.0/24")
    assert svc.registry.claim("0123abcd").subnets == ("10.89.0.0/16",)
    svc.remove("front")
    assert svc.registry.claim("0123abcd").subnets == ()
