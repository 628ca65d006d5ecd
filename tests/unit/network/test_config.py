import pytest

from dockyard.errors import InvalidArgument
from dockyard.network.config import DaemonNetwork


def test_nothing_asked_without_daemon_json(tmp_path):
    assert DaemonNetwork.from_file(tmp_path / "daemon.json") == DaemonNetwork(None, None, None)


def test_daemon_json_keys(tmp_path):
    p = tmp_path / "daemon.json"
    p.write_text('{"bridge": "dy1", "default-subnet": "10.213.0.0/24", "nft-table": "dy_t"}')
    assert DaemonNetwork.from_file(p) == DaemonNetwork("dy1", "10.213.0.0/24", "dy_t")


def test_bad_daemon_json_is_one_clear_line(tmp_path):
    p = tmp_path / "daemon.json"
    p.write_text('{"bridge": "a-name-far-too-long-for-linux"}')
    with pytest.raises(InvalidArgument, match="invalid bridge"):
        DaemonNetwork.from_file(p)
    p.write_text('{"default-subnet": 12}')
    with pytest.raises(InvalidArgument, match="invalid default-subnet"):
        DaemonNetwork.from_file(p)
    p.write_text("{not json")
    with pytest.raises(InvalidArgument, match="cannot read"):
        DaemonNetwork.from_file(p)


def test_mtu_defaults_to_the_largest_a_bridge_takes_and_daemon_json_sets_it(tmp_path):
    assert DaemonNetwork().mtu == 65520
    p = tmp_path / "daemon.json"
    p.write_text('{"mtu": 1500}')
    assert DaemonNetwork.from_file(p).mtu == 1500
    for bad in ('{"mtu": 70000}', '{"mtu": "big"}', '{"mtu": 12}'):
        p.write_text(bad)
        with pytest.raises(InvalidArgument, match="^invalid mtu .* in .*daemon.json: use a number from 68 to 65520$"):
            DaemonNetwork.from_file(p)
