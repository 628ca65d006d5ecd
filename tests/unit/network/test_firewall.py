"""The generated nftables JSON, checked against golden files.

Run with DOCKYARD_UPDATE_GOLDEN=1 to rewrite them after an intended change, then review the diff.
"""

import json
import os
from pathlib import Path

from dockyard.network.firewall import (ActiveNetwork, PortRule, element_changes, forward_accept_changes, port_elements,
                                       ruleset, teardown)
from dockyard.network.ports import PortBinding

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, commands: list[dict]) -> None:
    path = GOLDEN / name
    text = json.dumps({"nftables": commands}, indent=1, sort_keys=True) + "\n"
    if os.environ.get("DOCKYARD_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; DOCKYARD_UPDATE_GOLDEN=1 rewrites it"


def test_ruleset_two_networks_one_internal_with_ports():
    nets = [ActiveNetwork("dy-front", "10.213.1.0/24", False), ActiveNetwork("dy-back", "10.213.2.0/24", True),
            ActiveNetwork("dy-other", "10.213.3.0/24", False)]
    ports = [PortRule(PortBinding("127.0.0.1", 8080, 80, "tcp"), "10.213.1.2"),
             PortRule(PortBinding("", 5353, 53, "udp"), "10.213.1.3")]
    check_golden("ruleset_networks_ports.json", ruleset("dytable", nets, ports))


def test_ruleset_dual_stack_network_nats_and_publishes_ipv6_but_not_on_loopback():
    nets = [ActiveNetwork("dy-dual", "10.213.1.0/24", False, "2001:db8:5::/64")]
    ports = [PortRule(PortBinding("", 8080, 80, "tcp"), "10.213.1.2", "2001:db8:5::2"),
             PortRule(PortBinding("127.0.0.1", 8081, 81, "tcp"), "10.213.1.2", "2001:db8:5::2")]
    commands = ruleset("dytable", nets, ports)
    check_golden("ruleset_dual_stack.json", commands)
    dnat6 = [c["add"]["rule"]["expr"] for c in commands if "rule" in c.get("add", {})
             and any(e.get("dnat", {}).get("family") == "ip6" for e in c["add"]["rule"]["expr"])]
    assert len(dnat6) == 1
    assert {"match": {"op": "!=", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": "::1"}} in dnat6[0]
    # the port on every address only; the one on 127.0.0.1 stays IPv4
    assert [e for e in port_elements(ports) if e[0].endswith("6")] == [
        ["addr6", ["tcp", 8080], "2001:db8:5::2"], ["port6", ["tcp", 8080], 80]]


def test_element_changes_delete_then_add_only_what_differs():
    keep = PortRule(PortBinding("", 1, 80, "tcp"), "10.213.1.2")
    moved = PortRule(PortBinding("", 2, 80, "tcp"), "10.213.1.3")
    old = port_elements([keep, moved])
    new = port_elements([keep, PortRule(moved.binding, "10.213.1.4")])
    assert element_changes("t", old, new) == [
        {"delete": {"element": {"family": "inet", "table": "t", "name": "addr4", "elem": [{"concat": ["tcp", 2]}]}}},
        {"add": {"element": {"family": "inet", "table": "t", "name": "addr4", "elem": [[{"concat": ["tcp", 2]}, "10.213.1.4"]]}}}]
    assert element_changes("t", new, new) == []


def test_ruleset_does_not_depend_on_input_order():
    a = [ActiveNetwork("b1", "10.213.1.0/24", False), ActiveNetwork("b2", "10.213.2.0/24", False)]
    p = [PortRule(PortBinding("", 1, 80, "tcp"), "10.213.1.2"), PortRule(PortBinding("", 2, 80, "tcp"), "10.213.2.2")]
    assert ruleset("t", a, p) == ruleset("t", a[::-1], p[::-1])


def test_teardown_touches_only_our_table():
    check_golden("teardown.json", teardown("dytable"))


def docker_forward(policy: str, *rules: dict) -> list[dict]:
    return [{"metainfo": {}}, {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "policy": policy}},
            *rules]


def tagged(chain: str, direction: str, bridge: str, handle: int) -> dict:
    return {"rule": {"family": "ip", "table": "filter", "chain": chain, "handle": handle, "comment": "dockyard:dytable",
                     "expr": [{"match": {"op": "==", "left": {"meta": {"key": direction}}, "right": bridge}},
                              {"accept": None}]}}


def test_no_docker_no_changes():
    assert forward_accept_changes("dytable", None, None, ["dy-front"]) == []
    assert forward_accept_changes("dytable", docker_forward("accept"), None, ["dy-front"]) == []


def test_docker_drop_policy_gets_accepts_in_docker_user():
    docker_user = [{"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER"}},
                   tagged("DOCKER-USER", "iifname", "dy-front", 7)]
    changes = forward_accept_changes("dytable", docker_forward("drop"), docker_user, ["dy-front", "dy-back"])
    check_golden("docker_user_accepts.json", changes)


def test_stale_accepts_are_removed_when_our_last_bridge_goes():
    forward = docker_forward("drop", tagged("FORWARD", "iifname", "dy-front", 11), tagged("FORWARD", "oifname", "dy-front", 12))
    assert forward_accept_changes("dytable", forward, None, []) == [
        {"delete": {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": h}}} for h in (11, 12)]


def test_rules_of_other_tables_are_left_alone():
    other = tagged("FORWARD", "iifname", "docker0", 3)
    other["rule"]["comment"] = "someone else"
    assert forward_accept_changes("dytable", docker_forward("drop", other), None, []) == []
