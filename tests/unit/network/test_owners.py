"""Settling a root's bridge, nft table and default subnet beside other roots: no kernel, a
registry in a temporary directory."""

import json
from ipaddress import IPv4Network

import pytest

from dockyard.errors import Conflict
from dockyard.network.config import DaemonNetwork
from dockyard.network.owners import Registry, derived_subnet, settle
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
    c = settle(DaemonNetwork(), root, owner, default_root=True, registry=registry, routes=[])
    assert (c.owner, c.bridge_name, c.nft_table, c.default_subnet) == (owner, "dockyard0", "dockyard", None)


def test_another_root_derives_its_names_and_a_free_subnet_and_keeps_them(tmp_path, registry):
    root, owner = make_root(tmp_path, "r")
    first = derived_subnet(owner, [])
    assert first.subnet_of(IPv4Network("10.255.0.0/16")) and first.prefixlen == 24
    c = settle(DaemonNetwork(), root, owner, default_root=False, registry=registry, routes=[first])
    assert (c.bridge_name, c.nft_table) == (f"dy-{owner}", f"dockyard-{owner}")
    assert c.default_subnet != str(first) and IPv4Network(c.default_subnet).subnet_of(IPv4Network("10.255.0.0/16"))
    # recorded in the root and registered: the next command reads them back unchanged
    assert json.loads((root / "network.json").read_text())["bridge"] == f"dy-{owner}"
    assert registry.claim(owner).root == str(root)
    assert settle(DaemonNetwork(), root, owner, default_root=False, registry=registry, routes=[]) == c
    # daemon.json asking for a name wins; what it does not ask for stays as derived
    asked = settle(DaemonNetwork(bridge="br-mine"), root, owner, default_root=False, registry=registry, routes=[])
    assert (asked.bridge_name, asked.nft_table, asked.default_subnet) == ("br-mine", c.nft_table, c.default_subnet)
    assert registry.claim(owner).bridge == "br-mine"


def test_a_name_another_live_root_holds_is_refused_naming_it_and_a_gone_root_holds_nothing(tmp_path, registry):
    a, a_id = make_root(tmp_path, "a")
    b, b_id = make_root(tmp_path, "b")
    settle(DaemonNetwork(bridge="br-shared"), a, a_id, default_root=False, registry=registry, routes=[])
    with pytest.raises(Conflict, match=rf"^bridge br-shared \(daemon.json asks for\) is held by dockyard root {a} "
                                       rf"\({a_id}\): set another `bridge` in {b}/daemon.json$"):
        settle(DaemonNetwork(bridge="br-shared"), b, b_id, default_root=False, registry=registry, routes=[])
    with pytest.raises(Conflict, match=f"^nft-table dockyard-{a_id} "):
        settle(DaemonNetwork(nft_table=f"dockyard-{a_id}"), b, b_id, default_root=False, registry=registry, routes=[])
    assert not (b / "network.json").exists() and registry.claim(b_id) is None
    (a / "root-id").unlink()  # A is gone (or became another root): its claim is stale
    c = settle(DaemonNetwork(bridge="br-shared"), b, b_id, default_root=False, registry=registry, routes=[])
    assert c.bridge_name == "br-shared" and registry.claim(a_id) is None


def test_a_copied_root_is_refused_until_it_takes_an_identity_of_its_own(tmp_path, registry):
    a, a_id = make_root(tmp_path, "a")
    settle(DaemonNetwork(), a, a_id, default_root=False, registry=registry, routes=[])
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("root-id", "network.json"):
        (copy / name).write_text((a / name).read_text())
    with pytest.raises(Conflict, match=f"^roots {a} and {copy} have the same identity {a_id}"):
        settle(DaemonNetwork(), copy, a_id, default_root=False, registry=registry, routes=[])
    for name in ("root-id", "network.json"):
        (copy / name).unlink()
    c = settle(DaemonNetwork(), copy, root_id(copy), default_root=False, registry=registry, routes=[])
    assert c.owner != a_id and c.bridge_name != f"dy-{a_id}"
