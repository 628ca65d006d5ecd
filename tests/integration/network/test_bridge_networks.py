"""Bridge networks on a real kernel: reachability, names through the embedded DNS, isolation."""

import json
import subprocess
from pathlib import Path

import pytest

from dockyard.errors import Conflict, DockyardError, InvalidArgument
from dockyard.network.endpoints import EndpointRequest

pytestmark = pytest.mark.root

A, B = "a" * 64, "b" * 64


def test_containers_reach_each_other_by_ip_name_alias_and_short_id(lab):
    net = lab.svc.create("front", subnet=lab.subnets[1])
    gateway = net["IPAM"]["Config"][0]["Gateway"]
    web = lab.attach(A, "web", mode="front", endpoint=EndpointRequest(aliases=("www",)))
    client = lab.attach(B, "client", mode="front")
    lab.httpd(web.netns_path)
    got = lab.run(client.netns_path, "busybox", "wget", "-q", "-O-", f"http://{web.ip}/hello.txt")
    assert got.stdout == "hello from the container\n", got.stderr
    for name in ("web", "www", A[:12]):
        res = lab.run(client.netns_path, "busybox", "nslookup", name, gateway)
        assert f"Address: {web.ip}" in res.stdout, res.stdout + res.stderr
    assert lab.run(client.netns_path, "busybox", "nslookup", "nosuchthing", gateway).returncode != 0
    resolv = (lab.tmp / "files" / B[:12] / "resolv.conf").read_text()
    assert f"nameserver {gateway}" in resolv
    assert lab.svc.inspect("front")["Containers"][A]["IPv4Address"] == f"{web.ip}/24"


def test_another_network_cannot_reach_them(lab):
    lab.svc.create("front", subnet=lab.subnets[1])
    lab.svc.create("back", subnet=lab.subnets[2])
    web = lab.attach(A, "web", mode="front")
    outsider = lab.attach(B, "outsider", mode="back")
    lab.httpd(web.netns_path)
    got = lab.run(outsider.netns_path, "busybox", "wget", "-q", "-T", "1", "-O-", f"http://{web.ip}/hello.txt")
    assert got.returncode != 0 and got.stdout == ""
    assert lab.run(outsider.netns_path, "busybox", "ping", "-c1", "-W1", web.ip).returncode != 0


def test_default_bridge_and_none_mode(lab):
    web = lab.attach(A, "web")
    assert web.networks["bridge"]["IPAddress"] == web.ip
    assert lab.run(web.netns_path, "busybox", "ping", "-c1", "-W1", web.gateway).returncode == 0
    iso = lab.attach(B, "iso", mode="none")
    links = lab.run(iso.netns_path, "ip", "-o", "link").stdout.splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"]
    assert "state UNKNOWN" in links[0] or "UP" in links[0]


@pytest.mark.parametrize("undo", [["addr", "flush", "dev"], ["link", "set", "down", "dev"]])
def test_a_default_bridge_someone_took_down_or_stripped_is_set_up_again_by_the_next_start(lab, undo):
    """The default bridge outlives its containers; a start finds it as it was left without
    asking the kernel under its rtnl lock, and still notices an address or state taken away."""
    first = lab.attach(A, "first")
    bridge = lab.svc.inspect("bridge")["Options"]["com.docker.network.bridge.name"]
    lab.svc.detach(A)
    subprocess.run(["ip", *undo, bridge], check=True)
    again = lab.attach(B, "again")
    assert again.gateway == first.gateway
    assert lab.run(again.netns_path, "busybox", "ping", "-c1", "-W1", again.gateway).returncode == 0


def test_internal_network_has_no_way_out(lab):
    lab.svc.create("vault", subnet=lab.subnets[1], internal=True)
    inside = lab.attach(A, "inside", mode="vault")
    peer = lab.attach(B, "peer", mode="vault")
    assert "default" not in lab.run(inside.netns_path, "ip", "route").stdout
    host_ip = subprocess.run(["ip", "route", "get", "192.0.2.254"], capture_output=True, text=True).stdout.split("src ")[1].split()[0]
    assert lab.run(inside.netns_path, "busybox", "ping", "-c1", "-W1", host_ip).returncode != 0
    assert lab.run(inside.netns_path, "busybox", "ping", "-c1", "-W1", peer.ip).returncode == 0


def test_bad_requests_are_clear_and_create_nothing(lab):
    lab.svc.create("front", subnet=lab.subnets[1])
    before = lab.residue()
    with pytest.raises(Conflict, match="^Pool overlaps with other one on this address space$"):
        lab.svc.create("overlap", subnet=lab.subnets[1])
    with pytest.raises(Conflict, match="^network with name front already exists$"):
        lab.svc.create("front", subnet=lab.subnets[2])
    with pytest.raises(InvalidArgument, match="is not in subnet"):
        lab.attach(A, "web", mode="front", endpoint=EndpointRequest(ipv4="192.0.2.200"))
    assert lab.residue() == before == []
    assert lab.svc.attachment(A) is None


def test_golden_ruleset_is_valid_nftables():
    golden = Path(__file__).parents[2] / "unit" / "network" / "golden" / "ruleset_networks_ports.json"
    json.loads(golden.read_text())
    res = subprocess.run(["nft", "-c", "-j", "-f", str(golden)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_refused_rtnetlink_request_is_one_line_naming_the_interface(lab):
    """The veth, addresses and routes are rtnetlink requests from the engine's own process: a
    refusal (here the host end's name is taken) reads as `ip` would have reported it."""
    a = lab.attach(A, "web")
    taken = lab.svc.state.endpoints(container_id=A)[0].host_ifname
    path = lab.tmp / "spare-netns"
    lab.svc.netlink.create_netns(path)
    try:
        with pytest.raises(DockyardError, match="^cannot create the container's interface eth0: File exists$"):
            lab.svc.netlink.add_endpoint(host_ifname=taken, bridge=lab.svc.config.bridge_name, netns_path=str(path),
                                         ifname="eth0", mac=a.mac, address=a.ip, prefixlen=24, gateway=a.gateway,
                                         tag="unused", mtu=1500)
    finally:
        lab.svc.netlink.remove_netns(path)
    got = lab.run(a.netns_path, "ip", "-o", "addr", "show", "eth0").stdout
    assert f"inet {a.ip}/24" in got and "default via " + a.gateway in lab.run(a.netns_path, "ip", "route").stdout
    lab.svc.detach(A)
