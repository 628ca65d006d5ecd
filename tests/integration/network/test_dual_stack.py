"""Dual-stack bridge networks on a real kernel: IPv6 addresses and routes in the namespaces,
reachability over IPv6, AAAA answers from the embedded DNS, IPv6 NAT in the root's own
`inet` table, and nothing left behind."""

import json
import random
import subprocess

import pytest

from dockyard.network.ports import parse_publish

pytestmark = pytest.mark.root

A, B = "a" * 64, "b" * 64


def subnet6() -> str:
    return f"2001:db8:{random.randrange(0x100, 0xffff):x}::/64"


def test_two_containers_talk_over_ipv6_and_resolve_each_other_to_aaaa(lab):
    v6 = subnet6()
    prefix = v6.removesuffix("/64")
    net = lab.svc.create("dual", subnet=lab.subnets[1], enable_ipv6=True, subnet6=v6)
    assert net["EnableIPv6"] and net["IPAM"]["Config"][1] == {"Subnet": v6, "Gateway": prefix + "1"}
    web = lab.attach(A, "web", mode="dual", ports=parse_publish("80"))
    client = lab.attach(B, "client", mode="dual")
    assert web.networks["dual"]["GlobalIPv6Address"] == prefix + "2" and web.ip6 == prefix + "2"
    assert client.networks["dual"]["GlobalIPv6Address"] == prefix + "3"
    routes = lab.run(client.netns_path, "ip", "-6", "route").stdout
    assert f"default via {prefix}1 dev eth0" in routes

    lab.httpd(web.netns_path)
    got = lab.run(client.netns_path, "busybox", "wget", "-q", "-O-", f"http://[{prefix}2]/hello.txt")
    assert got.stdout == "hello from the container\n", got.stderr
    gateway = net["IPAM"]["Config"][0]["Gateway"]
    res = lab.run(client.netns_path, "busybox", "nslookup", "-type=aaaa", "web", gateway)
    assert f"Address: {prefix}2" in res.stdout, res.stdout + res.stderr
    hosts = (lab.tmp / "files" / A[:12] / "hosts").read_text()
    assert f"{prefix}2\tweb" in hosts

    table = json.loads(subprocess.run(["nft", "-j", "list", "table", "inet", lab.svc.config.nft_table],
                                      capture_output=True, text=True, check=True).stdout)["nftables"]
    rules = [json.dumps(o["rule"]["expr"]) for o in table if "rule" in o]
    port = web.ports[0].host_port
    maps = {o["map"]["name"]: o["map"].get("elem", []) for o in table if "map" in o}
    assert maps["addr6"] == [[{"concat": ["tcp", port]}, prefix + "2"]] and maps["port6"] == [[{"concat": ["tcp", port]}, 80]]  # [::]:PORT
    assert any('{"prefix": {"addr": "%s", "len": 64}}' % prefix in r and "masquerade" in r for r in rules)


def test_dockyard_cli_dual_stack_network_and_ports(dy, busybox):
    from tests.integration.network.conftest import free_subnets
    v6 = subnet6()
    prefix = v6.removesuffix("/64")
    dy("network", "create", "--ipv6", "--subnet", free_subnets(1)[0], "--subnet", v6, "dual")
    dy("run", "-d", "--name", "web", "--network", "dual", "-p", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    nets = json.loads(dy("inspect", "-f", "{{json .NetworkSettings.Networks}}", "web").out)
    assert (nets["dual"]["GlobalIPv6Address"], nets["dual"]["IPv6Gateway"]) == (prefix + "2", prefix + "1")
    port = json.loads(dy("inspect", "-f", "{{json .NetworkSettings.Ports}}", "web").out)["80/tcp"][0]["HostPort"]
    assert dy("ps", "--format", "{{.Ports}}").out.strip() == f"0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp"
    assert dy("port", "web").out.splitlines() == [f"80/tcp -> 0.0.0.0:{port}", f"80/tcp -> [::]:{port}"]
