"""Settling a root's bridge, nft table and default subnet beside other roots: no kernel, a
registry in a temporary directory."""

import json
from ipaddress import IPv4Network

import pytest

from dockyard.errors import Conflict
from dockyard.network.config import DaemonNetwork
from dockyard.network.ipam import identity_subnet
from dockyard.network.owners import Registry, settle
from dockyard.store.identity import read_root_id, root_id


@pytest.fixture
def registry(tmp_path):
    return Registry(tmp_path / "registry")


def make_root(tmp_path, name):
    root = tmp_path / name
    root.mkdir()
    return root, root_id(root)


def test_identity_is_made_once_and_kept(tmp_path):
    root, first = make_root(tmp_path, "r")
    assert len(first) == 8 and root_id(root) == first == read_root_id(root)
    (root / "root-id").write_text("not an id\n")
    assert read_root_id(root) is None


def test_the_default_root_keeps_docker_like_names(tmp_path, registry):
    root, owner = make_root(tmp_path, "r")
    c = settle(DaemonNetwork(), root, owner, default_root=True, registry=registry)
    assert (c.owner, c.bridge_name, c.nft_table, c.default_subnet) == (owner, "dockyard0", "dockyard", None)


def test_another_root_derives_its_names_and_keeps_them(tmp_path, registry):
    root, owner = make_root(tmp_path, "r")
    c = settle(DaemonNetwork(), root, owner, default_root=False, registry=registry)
    assert (c.bridge_name, c.nft_table, c.default_subnet, c.identity_subnet) == (
        f"dy-{owner}", f"dockyard-{owner}", None, True)
    # recorded in the root and registered: the next command reads them back unchanged
    assert json.loads((root / "network.json").read_text())["bridge"] == f"dy-{owner}"
    assert registry.claim(owner).root == str(root)
    assert settle(DaemonNetwork(), root, owner, default_root=False, registry=registry) == c
    # daemon.json asking for a name wins; what it does not ask for stays as derived
    asked = settle(DaemonNetwork(bridge="br-mine", default_subnet="10.213.0.0/24"), root, owner, default_root=False,
                   registry=registry)
    assert (asked.bridge_name, asked.nft_table, asked.default_subnet) == ("br-mine", c.nft_table, "10.213.0.0/24")
    assert registry.claim(owner).bridge == "br-mine"


def test_the_identity_subnet_is_a_free_22_the_identity_points_at():
    first = identity_subnet("0000002a", [])
    assert first == IPv4Network("10.252.168.0/22")
    assert first.num_addresses - 3 >= 1000  # 1,000 containers fit beside the gateway (a /24 held 253)
    assert identity_subnet("0000002a", [IPv4Network("10.252.168.0/21")]) == IPv4Network("10.252.176.0/22")
    assert identity_subnet("000000ff", [first]) == IPv4Network("10.255.252.0/22")
    assert identity_subnet("000000ff", [IPv4Network("10.255.252.0/22")]) == IPv4Network("10.252.0.0/22")  # wraps
    with pytest.raises(Conflict, match="no free /22 in 10.252.0.0/14"):
        identity_subnet("000000ff", [IPv4Network("10.0.0.0/8")])


def test_a_name_another_live_root_holds_is_refused_naming_it_and_a_gone_root_holds_nothing(tmp_path, registry):
    a, a_id = make_root(tmp_path, "a")
    b, b_id = make_root(tmp_path, "b")
    settle(DaemonNetwork(bridge="br-shared"), a, a_id, default_root=False, registry=registry)
    with pytest.raises(Conflict, match=rf"^bridge br-shared \(daemon.json asks for\) is held by dockyard root {a} "
                                       rf"\({a_id}\): set another `bridge` in {b}/daemon.json$"):
        settle(DaemonNetwork(bridge="br-shared"), b, b_id, default_root=False, registry=registry)
    with pytest.raises(Conflict, match=f"^nft-table dockyard-{a_id} "):
        settle(DaemonNetwork(nft_table=f"dockyard-{a_id}"), b, b_id, default_root=False, registry=registry)
    assert not (b / "network.json").exists() and registry.claim(b_id) is None
    (a / "root-id").unlink()  # A is gone (or became another root): its claim is stale
    c = settle(DaemonNetwork(bridge="br-shared"), b, b_id, default_root=False, registry=registry)
    assert c.bridge_name == "br-shared" and registry.claim(a_id) is None


def test_a_copied_root_is_refused_until_it_takes_an_identity_of_its_own(tmp_path, registry):
    a, a_id = make_root(tmp_path, "a")
    settle(DaemonNetwork(), a, a_id, default_root=False, registry=registry)
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("root-id", "network.json"):
        (copy / name).write_text((a / name).read_text())
    with pytest.raises(Conflict, match=f"^roots {a} and {copy} have the same identity {a_id}"):
        settle(DaemonNetwork(), copy, a_id, default_root=False, registry=registry)
    for name in ("root-id", "network.json"):
        (copy / name).unlink()
    c = settle(DaemonNetwork(), copy, root_id(copy), default_root=False, registry=registry)
    assert c.owner != a_id and c.bridge_name != f"dy-{a_id}"
