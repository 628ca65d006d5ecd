"""Two roots on one host never touch each other's network: whatever root B prunes, repairs or
removes, root A's container stays reachable through its published port and by name on its
user network. B runs once with a daemon.json of its own and once with none at all (then it
derives its bridge, nft table, subnet and run dir from its identity)."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import tempfile
import urllib.request
from contextlib import ExitStack
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from dockyard.network.owners import REGISTRY_DIR
from tests.conftest import Dockyard
from tests.integration.containers.test_networking import free_port, get_when_up, pick_subnets

pytestmark = pytest.mark.root

HTTPD = ("busybox", "httpd", "-f", "-p", "80", "-h", "/etc")


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=3) as r:
        return r.read().decode()


def reachable(dy: Dockyard, port: int) -> None:
    """A's web answers on its published port, and its neighbour reaches it by name."""
    assert get(f"http://127.0.0.1:{port}/hostname").strip()
    assert dy("exec", "probe", "wget", "-q", "-O-", "http://web/hostname").out.strip()


def info(dy: Dockyard) -> dict:
    return json.loads(dy("info", "--format", "{{json .}}").out)


@pytest.fixture
def root_b(tmp_path, request):
    """A second root: with a daemon.json of its own ("explicit"), or none and no run dir
    asked for ("derived"). Cleaned to the last host object it made."""
    run_dir = Path(tempfile.mkdtemp(prefix="dyr-", dir="/tmp"))
    b = Dockyard(tmp_path / "root-b", run_dir)
    if request.param == "derived":
        (b.root / "daemon.json").unlink()
        run_dir.rmdir()
        b.run_dir = Path(f"/run/dockyard-{b.root_id}")
        del b.env["DOCKYARD_RUN_DIR"]
    try:
        yield b
    finally:
        owner = b.root_id
        b.cleanup()
        shutil.rmtree(b.run_dir, ignore_errors=True)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert f"dockyard:{owner}:" not in links
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert owner not in tables and f"inet {b.tag}\n" not in tables
        assert not (REGISTRY_DIR / f"{owner}.json").exists()


@pytest.mark.parametrize("root_b", ["explicit", "derived"], indirect=True)
def test_what_root_b_prunes_repairs_or_removes_leaves_root_a_reachable(dy, busybox, root_b):
    a, b = dy, root_b
    subnets = pick_subnets(2)
    port_a, port_b = free_port(), free_port()
    a("network", "create", "--subnet", subnets[0], "front")
    a("run", "-d", "--name", "web", "--network", "front", "-p", f"127.0.0.1:{port_a}:80", *HTTPD)
    a("run", "-d", "--name", "probe", "--network", "front", "busybox", "sleep", "300")
    get_when_up(f"http://127.0.0.1:{port_a}/hostname")
    reachable(a, port_a)

    b("image", "bootstrap", "busybox")
    b("network", "create", "--subnet", subnets[1], "front")  # the same name as A's
    b("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port_b}:80", *HTTPD)
    b("run", "-d", "--name", "peer", "--network", "front", "busybox", "sleep", "300")
    b("run", "--name", "done", "busybox", "true")
    get_when_up(f"http://127.0.0.1:{port_b}/hostname")

    ia, ib = info(a), info(b)
    assert ia["ID"] != ib["ID"] and ia["NftTable"] != ib["NftTable"] and ia["DefaultBridge"] != ib["DefaultBridge"]
    if "DOCKYARD_RUN_DIR" not in b.env:  # nothing asked: B's names come from its identity
        assert (ib["DefaultBridge"], ib["NftTable"], ib["RunDir"]) == (
            f"dy-{b.root_id}", f"inet dockyard-{b.root_id}", f"/run/dockyard-{b.root_id}")
        assert IPv4Network(ib["DefaultSubnet"]).subnet_of(IPv4Network("10.252.0.0/14")) and ib["DefaultSubnet"].endswith("/22")

    assert "network:" not in b("system", "check").out  # nothing of B's is wrong, and A's is not B's to judge
    b("network", "prune", "-f")
    reachable(a, port_a)
    b("system", "prune", "-af")
    reachable(a, port_a)
    repaired = b("system", "check", "--repair").out
    assert "repaired:" not in repaired, repaired  # nothing was wrong, so nothing changed
    reachable(a, port_a)
    b("rm", "-f", *b("ps", "-aq").out.split())
    b("network", "prune", "-f")
    b("system", "check", "--repair")
    reachable(a, port_a)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f" {ib['DefaultBridge']}:" not in links and f"dockyard:{b.root_id}:" not in links  # B's went, A's stayed
    assert "network:" not in a("system", "check").out  # and A finds nothing of its own disturbed


def test_starts_and_removals_on_one_root_wait_on_no_lock_of_another_root_or_the_host(dy, busybox, tmp_path):
    """Roots do not queue behind each other: with root B's own locks (its root's, its
    network's) and the host's registry of roots held, root A still runs, publishes and
    removes containers. Only settling a root's names and registering a user network's
    subnet take the host's lock."""
    other = Dockyard(tmp_path / "root-b", Path(tempfile.mkdtemp(prefix="dyr-", dir="/tmp")))
    try:
        other("network", "ls")  # both roots have settled their names
        dy("network", "ls")
        with ExitStack() as held:
            for path in (other.root / "lock", other.run_dir / "network.lock", REGISTRY_DIR / ".lock"):
                fcntl.flock(held.enter_context(open(path, "a")), fcntl.LOCK_EX)
            port = free_port()
            dy("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", *HTTPD, timeout=60)
            get_when_up(f"http://127.0.0.1:{port}/hostname")
            assert dy("run", "--rm", "busybox", "echo", "ran", timeout=60).out == "ran\n"
            dy("rm", "-f", "web", timeout=60)
        assert dy("ps", "-aq").out == ""
    finally:
        other.cleanup()
        shutil.rmtree(other.run_dir, ignore_errors=True)


def test_a_bridge_or_table_another_root_holds_is_refused_naming_it(dy, busybox, tmp_path):
    other = Dockyard(tmp_path / "root-c", Path(tempfile.mkdtemp(prefix="dyr-", dir="/tmp")))
    (other.root / "daemon.json").write_text(json.dumps({"bridge": dy.tag, "nft-table": other.tag}))
    try:
        dy("network", "ls")  # A settles and registers its names
        r = other("network", "ls", check=False)
        assert r.code == 125 and r.out == ""
        assert r.err.strip() == (f"Error: bridge {dy.tag} (daemon.json asks for) is held by dockyard root "
                                 f"{dy.root} ({dy.root_id}): set another `bridge` in {other.root / 'daemon.json'}")
        (other.root / "daemon.json").write_text(json.dumps({"bridge": other.tag, "nft-table": dy.tag}))
        assert f"nft-table {dy.tag} (daemon.json asks for) is held by dockyard root {dy.root}" in \
            other("network", "ls", check=False).err
    finally:
        (other.root / "daemon.json").write_text(json.dumps({"bridge": other.tag, "nft-table": other.tag}))
        other.cleanup()
        shutil.rmtree(other.run_dir, ignore_errors=True)


def test_a_subnet_another_roots_bridge_holds_is_refused_naming_it(dy, busybox, tmp_path):
    subnet = pick_subnets(1)[0]
    dy("network", "create", "--subnet", subnet, "front")
    dy("run", "-d", "--name", "holder", "--network", "front", "busybox", "sleep", "300")
    bridge = "br-" + json.loads(dy("network", "inspect", "front").out)[0]["Id"][:12]
    other = Dockyard(tmp_path / "root-c", Path(tempfile.mkdtemp(prefix="dyr-", dir="/tmp")))
    daemon = other.root / "daemon.json"
    asked = json.loads(daemon.read_text())
    try:
        daemon.write_text(json.dumps({**asked, "default-subnet": subnet}))
        r = other("network", "ls", check=False)
        assert r.code == 125 and f"overlaps {subnet} of bridge {bridge} of dockyard root {dy.root}" in r.err
        daemon.write_text(json.dumps(asked))
        r = other("network", "create", "--subnet", subnet, "front", check=False)
        assert r.code == 125 and r.out == "" and r.err == (
            f"Error: Pool overlaps with other one on this address space: {subnet} overlaps {subnet} of bridge "
            f"{bridge} of dockyard root {dy.root} ({dy.root_id})\n")
    finally:
        other.cleanup()
        shutil.rmtree(other.run_dir, ignore_errors=True)
    assert dy("exec", "holder", "true").code == 0


def test_a_subnet_of_another_roots_network_is_refused_even_while_its_bridge_is_down(dy, tmp_path):
    subnet = pick_subnets(1)[0]
    dy("network", "create", "--subnet", subnet, "front")  # no container: no bridge, no route
    other = Dockyard(tmp_path / "root-c", Path(tempfile.mkdtemp(prefix="dyr-", dir="/tmp")))
    try:
        r = other("network", "create", "--subnet", subnet, "front", check=False)
        assert r.code == 125 and r.err == (f"Error: Pool overlaps with other one on this address space: {subnet} "
                                           f"overlaps {subnet} of a network of dockyard root {dy.root} ({dy.root_id})\n")
        dy("network", "rm", "front")
        other("network", "create", "--subnet", subnet, "front")
    finally:
        other.cleanup()
        shutil.rmtree(other.run_dir, ignore_errors=True)
