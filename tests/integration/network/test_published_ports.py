"""Published ports on a real kernel: reachable on 127.0.0.1 and the host's address, gone after detach."""

import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from dockyard.errors import Conflict
from dockyard.network.ports import parse_publish

pytestmark = pytest.mark.root

A, B = "a" * 64, "b" * 64


def host_address() -> str:
    """The host's own non-loopback address (the source it would use towards its gateway)."""
    route = subprocess.run(["ip", "-4", "route", "get", "192.0.2.254"], capture_output=True, text=True).stdout
    return route.split(" src ")[1].split()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def can_bind(ip: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def test_published_port_answers_on_loopback_and_host_address_then_is_freed(lab):
    local, anywhere = free_port(), free_port()
    web = lab.attach(A, "web", ports=parse_publish(f"127.0.0.1:{local}:80") + parse_publish(f"{anywhere}:80"))
    assert {(p.host_ip, p.host_port) for p in web.ports} == {("127.0.0.1", local), ("", anywhere)}
    lab.httpd(web.netns_path)
    assert get(f"http://127.0.0.1:{local}/hello.txt") == "hello from the container\n"
    assert get(f"http://{host_address()}:{anywhere}/hello.txt") == "hello from the container\n"
    assert get(f"http://127.0.0.1:{anywhere}/hello.txt") == "hello from the container\n"
    with pytest.raises(OSError):
        get(f"http://{host_address()}:{local}/hello.txt")   # bound to 127.0.0.1 only
    assert f"tcp . {local} : " in table(lab)  # its elements in the port maps
    lab.stop_processes()
    lab.svc.detach(A)
    bridge = lab.svc.config.bridge_name
    # the bridge (its address, NAT and own IGMP traffic) stays until prune, as docker0; nothing else may
    kept = (bridge, f"nft table inet {lab.svc.config.nft_table}")
    assert [r for r in lab.residue() if r not in kept and f" {bridge} " not in r and "dst=224." not in r] == []
    assert f"tcp . {local} : " not in table(lab)
    lab.svc.prune()
    assert lab.residue() == []
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{local}/hello.txt")
    assert can_bind("127.0.0.1", local) and can_bind("0.0.0.0", anywhere)


def table(lab, *flags: str) -> str:
    return subprocess.run(["nft", *flags, "list", "table", "inet", lab.svc.config.nft_table], capture_output=True,
                          text=True, check=True).stdout


def test_a_publish_and_a_removal_change_only_their_own_elements(lab):
    """The table (its chains and rules, by their handles) stays as the first start made it while
    other containers publish and unpublish: only the port maps' elements come and go."""
    first, second = free_port(), free_port()
    lab.attach(A, "one", ports=parse_publish(f"{first}:80"))
    rules = [line for line in table(lab, "-a").splitlines() if "# handle" in line and "elements" not in line]
    web = lab.attach(B, "two", ports=parse_publish(f"127.0.0.1:{second}:80"))
    assert f"127.0.0.1 . tcp . {second} : {web.ip}" in table(lab)
    # published once its veth passes traffic (the kernel's link watcher has seen it up)
    host_end = lab.svc.state.endpoints(container_id=B)[0].host_ifname
    assert Path(f"/sys/class/net/{host_end}/operstate").read_text() == "up\n"
    lab.httpd(web.netns_path)
    assert get(f"http://127.0.0.1:{second}/hello.txt") == "hello from the container\n"
    lab.stop_processes()
    lab.svc.detach(B)
    after = table(lab, "-a")
    assert [line for line in after.splitlines() if "# handle" in line and "elements" not in line] == rules
    assert f"tcp . {second} : " not in after and f"tcp . {first} : " in after
    lab.svc.detach(A)


def test_ephemeral_port_and_conflicts(lab):
    web = lab.attach(A, "web", ports=parse_publish("80"))
    port = web.ports[0].host_port
    assert port > 1024
    with pytest.raises(Conflict, match=f"^Bind for 0.0.0.0:{port} failed: port is already allocated$"):
        lab.attach(B, "other", ports=parse_publish(f"{port}:80"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        with pytest.raises(Conflict, match=f"Bind for 0.0.0.0:{taken} failed"):
            lab.attach(B, "other", ports=parse_publish(f"{taken}:80"))
    assert lab.svc.attachment(B) is None
    assert not any(B[:6] in line for line in lab.residue())


def test_thirty_attach_detach_cycles_leave_nothing(lab):
    port = free_port()
    for i in range(30):
        web = lab.attach(A, "web", ports=parse_publish(f"127.0.0.1:{port}:80") + parse_publish("80/udp"))
        if i % 10 == 0:  # real traffic now and then, so conntrack has entries to clean up
            lab.httpd(web.netns_path)
            assert get(f"http://127.0.0.1:{port}/hello.txt") == "hello from the container\n"
            lab.stop_processes()
        lab.svc.detach(A)
    lab.svc.prune()
    assert lab.residue() == []
    assert can_bind("127.0.0.1", port)
