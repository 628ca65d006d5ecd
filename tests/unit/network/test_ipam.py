from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest

from dockyard.errors import Conflict, InvalidArgument
from dockyard.network import ipam

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
br0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_proc_route_is_parsed_without_the_default_route():
    assert ipam.parse_proc_route(ROUTE) == [IPv4Network("192.0.2.0/24"), IPv4Network("10.88.0.0/16")]


def test_free_subnet_skips_whatever_overlaps():
    taken = ipam.parse_proc_route(ROUTE) + [IPv4Network("10.89.3.0/24")]
    assert ipam.free_subnet(taken) == IPv4Network("10.90.0.0/16")


def test_overlap_is_refused_with_dockers_message():
    with pytest.raises(Conflict, match="Pool overlaps with other one on this address space"):
        ipam.check_overlap(IPv4Network("10.88.1.0/24"), [IPv4Network("10.88.0.0/16")])


@pytest.mark.parametrize("text, message", [("10.1.2.3/24", "host bits"), ("nonsense", "invalid subnet"),
                                            ("fd00::/64", "not an IPv4 subnet"), ("10.0.0.0/31", "too small")])
def test_bad_subnets(text, message):
    with pytest.raises(InvalidArgument, match=message):
        ipam.parse_subnet(text)


def test_addresses_are_handed_out_lowest_first_skipping_gateway_and_leases():
    net, gw = IPv4Network("10.213.5.0/29"), IPv4Address("10.213.5.1")
    assert ipam.next_address(net, gw, ["10.213.5.2", "10.213.5.4"], "n") == IPv4Address("10.213.5.3")
    with pytest.raises(Conflict, match="no available IPv4 addresses on network n"):
        ipam.next_address(net, gw, [f"10.213.5.{i}" for i in range(2, 7)], "n")


def test_the_1001st_lease_on_a_22_parses_none_of_the_1000_before_it(monkeypatch):
    net, gw = IPv4Network("10.252.4.0/22"), IPv4Address("10.252.4.1")
    used = [str(net.network_address + 2 + i) for i in range(1000)]
    parsed = []
    real = ipam.ipaddress.ip_address
    monkeypatch.setattr(ipam.ipaddress, "ip_address", lambda text: parsed.append(text) or real(text))
    assert ipam.next_address(net, gw, used, "bridge", reserved=["10.252.7.234"]) == IPv4Address("10.252.7.235")
    assert parsed == []  # the leases are compared as the DB records them, str() of an address
    v6, gw6 = IPv6Network("fd00:1::/64"), IPv6Address("fd00:1::1")
    assert ipam.next_address(v6, gw6, ["fd00:1::2"], "n", reserved=["fd00:1::3"]) == IPv6Address("fd00:1::4")


def test_requested_address_is_checked():
    net, gw = IPv4Network("10.213.5.0/24"), IPv4Address("10.213.5.1")
    assert ipam.check_address("10.213.5.9", net, gw, []) == IPv4Address("10.213.5.9")
    with pytest.raises(InvalidArgument, match="not in subnet 10.213.5.0/24"):
        ipam.check_address("10.213.6.9", net, gw, [])
    with pytest.raises(Conflict, match="already in use"):
        ipam.check_address("10.213.5.1", net, gw, [])


def test_gateway_defaults_to_first_host_and_must_be_inside():
    net = IPv4Network("10.213.5.0/24")
    assert ipam.gateway_for(net, None) == IPv4Address("10.213.5.1")
    with pytest.raises(InvalidArgument, match="not a usable address"):
        ipam.gateway_for(net, "10.213.6.1")


def test_mac_follows_the_address_like_docker():
    assert ipam.mac_for(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"


def test_user_network_pools_stop_where_the_default_bridges_of_other_roots_start():
    taken = [IPv4Network(f"10.{i}.0.0/16") for i in range(88, 251)]
    assert ipam.free_subnet(taken) == IPv4Network("10.251.0.0/16")
    with pytest.raises(Conflict, match="non-overlapping IPv4 address pool"):
        ipam.free_subnet([*taken, IPv4Network("10.251.0.0/16")])
    assert not IPv4Network("10.251.0.0/16").overlaps(ipam.IDENTITY_POOL)
