"""Container networking through real `dockyard run` containers, checked the way a user checks it:
HTTP from the host, ping and wget between containers, files inside, and nothing left in the kernel
(links, addresses, nft rules, conntrack entries, namespaces, processes) once the containers are gone."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import time
import urllib.request
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from dockyard.network.ipam import host_routes
from tests.helpers import kernel

pytestmark = pytest.mark.root

IP_RE = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\b")


# ---- helpers ------------------------------------------------------------------------------------


def host_address() -> str:
    """The host's own non-loopback address: the source of a route to a documentation address
    (a UDP connect picks it without sending anything)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.254", 9))
        return s.getsockname()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def can_bind(ip: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def get(url: str, timeout: float = 3) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def get_when_up(url: str, timeout: float = 10) -> str:
    """GET, retrying while the container's server is still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def in_subnets(text: str, subnets: list[str]) -> bool:
    nets = [IPv4Network(s) for s in subnets]
    return any(IPv4Address(ip) in n for ip in IP_RE.findall(text) for n in nets if _valid(ip))


def _valid(ip: str) -> bool:
    return all(int(part) < 256 for part in ip.split("."))


def residue(dy, subnets: list[str]) -> list[str]:
    """Everything of this test's engine still in the kernel, the run dir or the process table."""
    # a container's exit hook (`container cleanup`, started by its shim when `rm -f` kills it)
    # may still be finishing when `rm -f` returns: first wait for the root's processes to end
    deadline = time.monotonic() + 10
    while engine_processes(dy) and time.monotonic() < deadline:
        time.sleep(0.05)
    tag, found = dy.tag, []
    for line in kernel.links(dy.root_id).splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if f"dockyard:{dy.root_id}:" in line or name == tag:
            found.append(f"link {name}")
    found += [f"address {line}" for line in run("ip", "-o", "-4", "addr").splitlines() if in_subnets(line, subnets)]
    if subprocess.run(["nft", "list", "table", "inet", tag], capture_output=True).returncode == 0:
        found.append(f"nft table inet {tag}")
    for chain in ("FORWARD", "DOCKER-USER"):
        found += [f"{chain} rule {line.strip()}" for line in run("nft", "list", "chain", "ip", "filter", chain).splitlines()
                  if f'"dockyard:{tag}"' in line]
    found += [f"conntrack {line}" for line in run("conntrack", "-L").splitlines() if in_subnets(line, subnets)]
    netns = dy.run_dir / "netns"
    found += [f"netns {p}" for p in netns.iterdir()] if netns.is_dir() else []
    found += [f"mount {line}" for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if str(dy.run_dir) in line or str(dy.root) in line]
    return found + engine_processes(dy)


def engine_processes(dy) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(dy.run_dir) in cmdline or str(dy.root) in cmdline:
                found.append(f"process {proc.name}: {cmdline[:120]}")
    return found


def container_residue(dy, subnets: list[str]) -> list[str]:
    """Residue of the containers themselves: the default bridge, its address, NAT table, accept
    rules in Docker's chain and own multicast chatter stay after the last container (as docker0's
    do) until `network prune`."""
    bridge = dy.tag
    return [r for r in residue(dy, subnets)
            if r not in (f"link {bridge}", f"nft table inet {bridge}") and f" {bridge} " not in r
            and f'"{bridge}" accept' not in r and "dst=224." not in r]


def pick_subnets(count: int) -> list[str]:
    """/24s in 10.214.0.0/16 that no host route touches (the network tests use 10.213/16)."""
    routes = host_routes()
    nets = [IPv4Network(f"10.214.{i}.0/24") for i in random.sample(range(1, 255), 40)]
    return [str(n) for n in nets if not any(n.overlaps(r) for r in routes)][:count]


def one_line_error(r) -> str:
    """A failed command's message: exit 125, one line on stderr, nothing on stdout."""
    assert r.code == 125, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error"), r.err
    assert r.out == "", r.out
    return lines[0]


def inspect(dy, name: str) -> dict:
    return json.loads(dy("inspect", name).out)[0]


def ifaces(dy, name: str) -> set[str]:
    return set(dy("exec", name, "ls", "/sys/class/net").out.split())


def pings(dy, name: str, target: str) -> bool:
    return dy("exec", name, "ping", "-c1", "-W2", target, check=False).code == 0


def unreachable(dy, name: str, target: str) -> bool:
    """No echo reply within a second (on a bridge a reply takes well under a millisecond)."""
    return dy("exec", name, "ping", "-c1", "-W1", target, check=False).code != 0


@pytest.fixture
def net(dy, request):
    """This test's subnets (the first is the default bridge's, set in daemon.json before the engine
    makes its networks) and the busybox image; afterwards, every container and network removed
    and not a trace left."""
    subnets = pick_subnets(4)
    daemon = dy.root / "daemon.json"
    daemon.write_text(json.dumps({**json.loads(daemon.read_text()), "default-subnet": subnets[0]}))
    request.getfixturevalue("busybox")
    yield subnets
    dy.cleanup()
    dy("network", "prune", "-f", check=False)
    left = residue(dy, subnets)
    assert left == [], f"left behind: {left}"


# ---- published ports ----------------------------------------------------------------------------


def test_walkthrough_published_httpd_serves_host_files_and_rm_frees_everything(dy, net, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from the host directory\n")
    port = free_port()
    dy("run", "-d", "--name", "web", "-p", f"{port}:80", "-v", f"{www}:/www", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")

    assert get_when_up(f"http://127.0.0.1:{port}/index.html") == "hello from the host directory\n"
    assert get(f"http://{host_address()}:{port}/index.html") == "hello from the host directory\n"
    assert dy("port", "web").out == f"80/tcp -> 0.0.0.0:{port}\n"
    assert dy("port", "web", "80").out == f"0.0.0.0:{port}\n"
    assert json.loads(dy("network", "inspect", "bridge").out)[0]["IPAM"]["Config"][0]["Subnet"] == net[0]
    ip = inspect(dy, "web")["NetworkSettings"]["IPAddress"]
    assert IPv4Address(ip) in IPv4Network(net[0])
    assert f"tcp . {port} : {ip}" in run("nft", "list", "table", "inet", dy.tag)  # its own element in the port map

    dy("rm", "-f", "web")
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{port}/index.html", timeout=1)
    assert can_bind("0.0.0.0", port)
    assert container_residue(dy, net) == []
    dy("network", "prune", "-f")
    assert residue(dy, net) == []


def test_loopback_only_random_and_publish_all(dy, net):
    local = free_port()
    dy("run", "-d", "--name", "local", "-p", f"127.0.0.1:{local}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    dy("run", "-d", "--name", "rand", "-p", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    dy("run", "-d", "--name", "all", "-P", "--expose", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")

    assert get_when_up(f"http://127.0.0.1:{local}/hostname").strip() == inspect(dy, "local")["Id"][:12]
    with pytest.raises(OSError):
        get(f"http://{host_address()}:{local}/hostname", timeout=1)  # bound to loopback only
    assert dy("port", "local").out == f"80/tcp -> 127.0.0.1:{local}\n"

    for name in ("rand", "all"):
        m = re.fullmatch(r"80/tcp -> 0\.0\.0\.0:(\d+)\n", dy("port", name).out)
        assert m, dy("port", name).out
        mapped = int(m.group(1))
        assert mapped not in (0, 80, local)
        cid = inspect(dy, name)["Id"][:12]
        assert get_when_up(f"http://127.0.0.1:{mapped}/hostname").strip() == cid
        assert get(f"http://{host_address()}:{mapped}/hostname").strip() == cid
    assert inspect(dy, "all")["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == dy("port", "all", "80").out.split(":")[1].strip()


def test_port_held_by_a_host_process_is_refused_before_the_container_starts(dy, net):
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        r = dy("run", "-d", "--name", "clash", "-p", f"{port}:80", "busybox", "sleep", "30", check=False)
        msg = one_line_error(r)
        assert str(port) in msg and "allocated" in msg
        assert dy("ps", "-q").out == ""                               # never ran
        assert inspect(dy, "clash")["State"]["StartedAt"].startswith("0001-")
        assert residue(dy, net) == []
        # the host process still owns its port: a connection reaches it, not a container
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            conn, _ = holder.accept()
            conn.close()


@pytest.mark.parametrize("spec", ["99999:80", "abc", "80:0", "8080:80/sctp", "1.2.3:80:80"])
def test_invalid_publish_spec_is_one_line_error_and_creates_nothing(dy, net, spec):
    r = dy("run", "-d", "-p", spec, "busybox", "true", check=False)
    assert spec in one_line_error(r)
    assert dy("ps", "-aq").out == ""
    assert container_residue(dy, net) == []
    dy("network", "prune", "-f")
    assert residue(dy, net) == []


# ---- user networks and network modes ------------------------------------------------------------


def test_user_network_names_aliases_and_isolation(dy, net):
    dy("network", "create", "--subnet", net[1], "front")
    dy("network", "create", "--subnet", net[2], "back")
    dy("run", "-d", "--name", "web", "--network", "front", "--network-alias", "www", "busybox",
       "httpd", "-f", "-p", "80", "-h", "/etc")
    dy("run", "-d", "--name", "client", "--network", "front", "busybox", "sleep", "60")
    dy("run", "-d", "--name", "stranger", "--network", "back", "busybox", "sleep", "60")
    web_ip = inspect(dy, "web")["NetworkSettings"]["Networks"]["front"]["IPAddress"]
    client_ip = inspect(dy, "client")["NetworkSettings"]["Networks"]["front"]["IPAddress"]
    assert IPv4Address(web_ip) in IPv4Network(net[1])

    assert pings(dy, "client", "web") and pings(dy, "client", "www") and pings(dy, "web", "client")
    web_id = inspect(dy, "web")["Id"][:12]
    assert dy("exec", "client", "timeout", "5", "wget", "-q", "-O-", "http://www/hostname").out.strip() == web_id
    assert dy("exec", "client", "timeout", "5", "wget", "-q", "-O-", "http://web/hostname").out.strip() == web_id

    assert unreachable(dy, "stranger", web_ip) and unreachable(dy, "stranger", client_ip)
    assert dy("exec", "stranger", "timeout", "2", "wget", "-q", "-O-", f"http://{web_ip}/hostname", check=False).code != 0
    assert unreachable(dy, "stranger", "web")  # names of other networks do not resolve either


def test_network_modes_none_host_and_container(dy, net):
    assert dy("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net").out.split() == ["lo"]

    before = set(os.listdir("/sys/class/net"))
    inside = set(dy("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net").out.split())
    after = set(os.listdir("/sys/class/net"))
    assert before & after <= inside
    # links other tests make and remove meanwhile are all the difference there may be
    assert all(n.startswith(("dy", "br-", "veth")) for n in inside - (before | after)), inside - (before | after)
    assert host_address() in dy("run", "--rm", "--network", "host", "busybox", "ip", "-4", "-o", "addr").out

    dy("run", "-d", "--name", "first", "busybox", "sleep", "60")
    first = inspect(dy, "first")["NetworkSettings"]
    links, addr, mac = dy("run", "--rm", "--network", "container:first", "busybox", "sh", "-c",
                          "ls /sys/class/net; echo ---; ip -4 -o addr show eth0; echo ---; "
                          "cat /sys/class/net/eth0/address").out.split("---\n")
    assert set(links.split()) == ifaces(dy, "first") == {"lo", "eth0"}
    assert f"inet {first['IPAddress']}/" in addr
    assert mac.strip() == first["MacAddress"]


def test_static_ip_and_network_errors(dy, net):
    dy("network", "create", "--subnet", net[1], "fixed")
    wanted = str(IPv4Network(net[1]).network_address + 77)
    dy("run", "-d", "--name", "pinned", "--network", "fixed", "--ip", wanted, "busybox", "sleep", "60")
    assert f"inet {wanted}/24" in dy("exec", "pinned", "ip", "-4", "-o", "addr", "show", "eth0").out
    assert inspect(dy, "pinned")["NetworkSettings"]["Networks"]["fixed"]["IPAddress"] == wanted

    outside = str(IPv4Network(net[2]).network_address + 5)
    msg = one_line_error(dy("run", "-d", "--name", "astray", "--network", "fixed", "--ip", outside, "busybox",
                            "sleep", "60", check=False))
    assert outside in msg and net[1] in msg
    taken = one_line_error(dy("run", "-d", "--name", "twin", "--network", "fixed", "--ip", wanted, "busybox",
                              "sleep", "60", check=False))
    assert wanted in taken
    assert dy("ps", "-q", "--no-trunc").out.split() == [inspect(dy, "pinned")["Id"]]

    half = str(next(IPv4Network(net[1]).subnets(1)))
    assert "overlaps" in one_line_error(dy("network", "create", "--subnet", half, "clash", check=False)).lower()
    assert "already exists" in one_line_error(dy("network", "create", "fixed", check=False))
    assert "clash" not in dy("network", "ls", "--format", "{{.Name}}").out.split()

    dy("run", "-d", "--name", "second", "--network", "fixed", "busybox", "sleep", "60")
    r = dy("network", "rm", "fixed", check=False)
    assert r.code != 0 and "pinned" in r.err and "second" in r.err
    assert "fixed" in dy("network", "ls", "--format", "{{.Name}}").out.split()
    assert pings(dy, "second", "pinned")  # refusing changed nothing
    dy("rm", "-f", "pinned", "second", "astray", "twin", check=False)
    assert dy("network", "rm", "fixed").out == "fixed\n"


def test_mtu_default_network_option_and_errors(dy, net):
    """Container interfaces take the engine's MTU (65520 unless daemon.json says otherwise), or
    their network's com.docker.network.driver.mtu; host and container sides agree."""
    def mtu_inside(*run_args: str) -> int:
        return int(dy("run", "--rm", *run_args, "busybox", "cat", "/sys/class/net/eth0/mtu").out)

    assert mtu_inside() == 65520
    dy("network", "create", "--subnet", net[1], "-o", "com.docker.network.driver.mtu=1500", "small")
    assert mtu_inside("--network", "small") == 1500
    dy("run", "-d", "--name", "mtu1", "--network", "small", "busybox", "sleep", "30")
    bridge = json.loads(dy("network", "inspect", "small").out)[0]["Options"].get("com.docker.network.bridge.name") \
        or "br-" + json.loads(dy("network", "inspect", "small").out)[0]["Id"][:12]
    assert Path(f"/sys/class/net/{bridge}/mtu").read_text().strip() == "1500"
    dy("rm", "-f", "mtu1")
    err = one_line_error(dy("network", "create", "-o", "com.docker.network.driver.mtu=9", "tiny", check=False))
    assert "invalid com.docker.network.driver.mtu '9'" in err
    assert "tiny" not in dy("network", "ls").out


def test_flushed_firewall_rules_come_back_with_system_check_repair(dy, net):
    """Rules are synced only when networks or ports change; if someone flushes them (a firewall
    reload), `system check --repair` puts them back, as a dockerd restart does for Docker."""
    port = free_port()
    dy("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    assert get_when_up(f"http://127.0.0.1:{port}/hostname")
    subprocess.run(["nft", "delete", "table", "inet", dy.tag], check=True)
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{port}/hostname", timeout=1)
    assert f"network: nft table inet {dy.tag}: missing (run `dockyard system check --repair`)" in dy("system", "check").out
    assert f"repaired: nft table inet {dy.tag}: missing" in dy("system", "check", "--repair").out
    assert "repaired:" not in dy("system", "check", "--repair").out  # nothing left to change
    assert get_when_up(f"http://127.0.0.1:{port}/hostname")


def test_connect_and_disconnect_a_running_container(dy, net):
    dy("network", "create", "--subnet", net[1], "one")
    dy("network", "create", "--subnet", net[2], "two")
    dy("run", "-d", "--name", "mover", "--network", "one", "busybox", "sleep", "60")
    dy("run", "-d", "--name", "peer", "--network", "two", "busybox", "sleep", "60")
    peer_ip = inspect(dy, "peer")["NetworkSettings"]["Networks"]["two"]["IPAddress"]
    assert ifaces(dy, "mover") == {"lo", "eth0"}
    assert unreachable(dy, "mover", peer_ip)

    dy("network", "connect", "two", "mover")
    assert ifaces(dy, "mover") == {"lo", "eth0", "eth1"}
    eth1 = dy("exec", "mover", "ip", "-4", "-o", "addr", "show", "eth1").out
    assert in_subnets(eth1, [net[2]])
    assert pings(dy, "mover", peer_ip) and pings(dy, "peer", "mover")
    assert set(inspect(dy, "mover")["NetworkSettings"]["Networks"]) == {"one", "two"}

    dy("network", "disconnect", "two", "mover")
    assert ifaces(dy, "mover") == {"lo", "eth0"}
    assert unreachable(dy, "mover", peer_ip)
    assert set(inspect(dy, "mover")["NetworkSettings"]["Networks"]) == {"one"}
    # on the host: one veth per remaining endpoint (mover on one, peer on two)
    assert len([l for l in run("ip", "-o", "link").splitlines() if f"dockyard:{dy.root_id}:ep:" in l]) == 2


def test_names_of_a_connected_network_resolve(dy, net):
    dy("network", "create", "--subnet", net[1], "one")
    dy("network", "create", "--subnet", net[2], "two")
    dy("run", "-d", "--name", "mover", "--network", "one", "busybox", "sleep", "60")
    dy("run", "-d", "--name", "peer", "--network", "two", "busybox", "sleep", "60")
    dy("network", "connect", "two", "mover")
    assert pings(dy, "mover", "peer")


def test_dns_add_host_and_hostname_inside(dy, net):
    out = dy("run", "--rm", "--dns", "192.0.2.53", "--dns-search", "corp.example", "--add-host", "db.example:10.1.2.3",
             "--hostname", "box1", "busybox", "sh", "-c",
             "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname").out
    resolv, hosts, hostname = out.split("---\n")
    assert "nameserver 192.0.2.53" in resolv.splitlines()
    assert [l for l in resolv.splitlines() if l.startswith("nameserver")] == ["nameserver 192.0.2.53"]
    assert "search corp.example" in resolv.splitlines()
    assert ["10.1.2.3", "db.example"] in [l.split() for l in hosts.splitlines()]
    assert any("box1" in l.split()[1:] and in_subnets(l, [net[0]]) for l in hosts.splitlines() if l.strip())
    assert hostname == "box1\n"


# ---- outbound -----------------------------------------------------------------------------------


def debian_mirror() -> str:
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in f.read_text().splitlines():
            if line.startswith("URIs:") and line.split()[1:]:
                return line.split()[1].rstrip("/")
    return "http://deb.debian.org/debian"


@pytest.mark.network
def test_default_bridge_reaches_the_debian_mirror(dy, net):
    uri = debian_mirror()
    try:
        with urllib.request.urlopen(f"{uri}/dists/bookworm/Release", timeout=5) as r:
            first = r.readline().decode().strip()
    except OSError as e:
        pytest.skip(f"the host itself cannot reach {uri}: {e}")
    out = dy("run", "--rm", "busybox", "sh", "-c", f"timeout 20 wget -q -O- {uri}/dists/bookworm/Release | head -1").out
    assert out.strip() == first == "Origin: Debian"


# ---- churn --------------------------------------------------------------------------------------


def test_thirty_published_containers_started_and_removed_leave_nothing(dy, net):
    fixed = free_port()

    for pair in range(15):
        names = [f"churn{2 * pair}", f"churn{2 * pair + 1}"]
        procs = [dy.popen("run", "-d", "--name", names[0], "-p", f"127.0.0.1:{fixed}:80", "busybox",
                          "httpd", "-f", "-p", "80", "-h", "/etc", stdout=subprocess.PIPE, stderr=subprocess.PIPE),
                 dy.popen("run", "-d", "--name", names[1], "-p", "80", "-p", "5353/udp", "busybox",
                          "httpd", "-f", "-p", "80", "-h", "/etc", stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        for name in names:  # real traffic through each published port, so conntrack has entries to clean
            port = int(dy("port", name, "80").out.rsplit(":", 1)[1])
            assert get_when_up(f"http://127.0.0.1:{port}/hostname").strip() == inspect(dy, name)["Id"][:12]
        dy("rm", "-f", *names)
        assert can_bind("127.0.0.1", fixed)
    assert dy("ps", "-aq").out == ""
    assert container_residue(dy, net) == []
    dy("network", "prune", "-f")
    assert residue(dy, net) == []
