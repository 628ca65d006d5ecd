"""Endpoint settings as clients send them and as NetworkSettings.Networks shows them."""

import pytest

from dockyard.errors import InvalidArgument
from dockyard.network.endpoints import EndpointRequest, planned, stopped


def test_settings_kept_as_asked():
    req = EndpointRequest.from_settings("front", {
        "Aliases": ["www"], "Links": ["db:database"], "DriverOpts": {"k": "v"}, "MacAddress": "02:42:ac:11:00:09",
        "IPAMConfig": {"IPv4Address": "10.1.2.3", "IPv6Address": "2001:db8::3", "LinkLocalIPs": ["169.254.1.1"]}})
    assert (req.aliases, req.ipv4, req.ipv6, req.link_local) == (("www",), "10.1.2.3", "2001:db8::3", ("169.254.1.1",))
    assert req.kept() == {"IPAMConfig": {"IPv4Address": "10.1.2.3", "IPv6Address": "2001:db8::3",
                                         "LinkLocalIPs": ["169.254.1.1"]},
                          "Links": ["db:database"], "DriverOpts": {"k": "v"}, "MacAddress": "02:42:ac:11:00:09"}
    assert EndpointRequest.from_settings("front", None).kept() == {
        "IPAMConfig": None, "Links": None, "DriverOpts": None, "MacAddress": ""}


@pytest.mark.parametrize("ipam, problem", [({"IPv4Address": "2001:db8::1"}, "invalid IPv4 address: 2001:db8::1"),
                                           ({"IPv6Address": "10.0.0.1"}, "invalid IPv6 address: 10.0.0.1"),
                                           ({"LinkLocalIPs": ["nope"]}, "invalid link-local IP address: nope")])
def test_bad_addresses_are_refused_naming_the_network(ipam, problem):
    with pytest.raises(InvalidArgument) as e:
        EndpointRequest.from_settings("front", {"IPAMConfig": ipam})
    assert e.value.message == f"invalid config for network front: invalid endpoint settings:\n{problem}"


def test_planned_networks_of_a_created_container():
    nets = planned("front", {"front": {"Aliases": ["www"]}, "back": {}})
    assert list(nets) == ["front", "back"]
    assert nets["front"]["Aliases"] == ["www"] and nets["front"]["NetworkID"] == "" and nets["back"]["IPAddress"] == ""
    assert planned("container:abc", {}) == {}
    assert list(planned("bridge", {})) == ["bridge"]


def test_stopped_keeps_the_attachment_and_clears_operational_data():
    running = {"front": {"IPAMConfig": {"IPv4Address": "10.1.2.3"}, "Links": None, "Aliases": ["www"],
                         "MacAddress": "02:42:0a:01:02:03", "DriverOpts": None, "NetworkID": "n" * 64,
                         "EndpointID": "e" * 64, "Gateway": "10.1.2.1", "IPAddress": "10.1.2.3", "IPPrefixLen": 24,
                         "IPv6Gateway": "2001:db8::1", "GlobalIPv6Address": "2001:db8::2", "GlobalIPv6PrefixLen": 64,
                         "DNSNames": ["web", "www"]}}
    es = stopped(running)["front"]
    assert (es["NetworkID"], es["IPAMConfig"], es["Aliases"], es["DNSNames"]) == (
        "n" * 64, {"IPv4Address": "10.1.2.3"}, ["www"], ["web", "www"])
    assert [es[k] for k in ("EndpointID", "Gateway", "IPAddress", "IPv6Gateway", "GlobalIPv6Address", "MacAddress")] == [""] * 6
    assert (es["IPPrefixLen"], es["GlobalIPv6PrefixLen"]) == (0, 0)
