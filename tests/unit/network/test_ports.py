import pytest

from dockyard.errors import InvalidArgument
from dockyard.network.ports import PortBinding, PortSpec, parse_publish, port_map, publish_all


@pytest.mark.parametrize("spec, expected", [
    ("80", [PortSpec(80)]),
    ("8080:80", [PortSpec(80, "tcp", "", 8080)]),
    ("127.0.0.1:8080:80/udp", [PortSpec(80, "udp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [PortSpec(80, "tcp", "127.0.0.1", 0)]),
    ("0.0.0.0:53:53/UDP", [PortSpec(53, "udp", "", 53)]),
    ("8000-8001:80-81", [PortSpec(80, "tcp", "", 8000), PortSpec(81, "tcp", "", 8001)]),
    ("7000-7001", [PortSpec(7000), PortSpec(7001)]),
])
def test_publish_specs(spec, expected):
    assert parse_publish(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("abc", 'invalid container port "abc"'),
    ("x:80", 'invalid host port "x"'),
    ("80:0", "1-65535"),
    ("8080:80/sctp", 'unknown protocol "sctp"'),
    ("300.1.1.1:80:80", "is not an IP address"),
    ("[::1]:80:80", "only IPv4"),
    ("8000-8002:80-81", "ranges differ"),
    ("1:2:3:4", "too many colons"),
    ("", "invalid container port"),
])
def test_bad_publish_specs_say_what_is_wrong(spec, message):
    with pytest.raises(InvalidArgument) as e:
        parse_publish(spec)
    assert message in e.value.message and "\n" not in e.value.message


def test_publish_all_takes_exposed_ports_on_free_host_ports():
    assert publish_all(["80/tcp", "53/udp", "443"]) == [PortSpec(80), PortSpec(53, "udp"), PortSpec(443)]


def test_port_map_is_dockers_shape():
    m = port_map([PortBinding("", 8080, 80, "tcp"), PortBinding("127.0.0.1", 8081, 80, "tcp")])
    assert m == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "8081"}]}
