"""dockyard.network.rootless without namespaces: the port forwarder's own logic in the current
namespace (its sockets "in the rootless netns" come from a maker that makes them right here; the
real maker, which joins the pause process's namespaces, is exercised in
tests/integration/network/test_rootless_net.py), and the host's resolvers as the namespace sees them."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest

from dockyard.network.rootless.forwarder import Forwarder, PortError
from dockyard.network.rootless.link import Link


class HereMaker:
    def socket(self, family: int, kind: int) -> socket.socket:
        return socket.socket(family, kind)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def forwarder(tmp_path):
    """A forwarder; `forwarder.start()` serves it on a thread (after the test's publishes, so its
    selector is changed by one thread only) until the test ends."""
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    way_out = subprocess.Popen(["sleep", "600"])  # stands for the link the forwarder watches
    f = Forwarder(HereMaker(), control, Link("pasta", way_out.pid), tmp_path)
    stop_r, stop_w = os.pipe()  # its read end stands for the pause process's pidfd
    t = threading.Thread(target=f.serve, args=(os.getpid(), stop_r), daemon=True)
    f.start = t.start
    yield f
    os.write(stop_w, b"x")
    if t.is_alive():
        t.join(5)
    for key in list(f.ports):
        f._drop(key)
    for fd in (stop_r, stop_w):
        os.close(fd)
    control.close()
    way_out.kill()
    way_out.wait()


def test_publish_is_all_or_nothing_and_names_the_taken_port(forwarder):
    f = forwarder
    first = free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        with pytest.raises(PortError) as e:
            f.publish([(("127.0.0.1", first, "tcp"), ("127.0.0.1", 1)), (("127.0.0.1", taken, "tcp"), ("127.0.0.1", 1))])
    assert e.value.kind == "conflict"
    assert e.value.message == f"Bind for 127.0.0.1:{taken} failed: port is already allocated"
    assert f.ports == {}
    with socket.socket() as again:  # the first listener was closed with the failed request
        again.bind(("127.0.0.1", first))


def test_an_address_the_host_lacks_is_the_callers_mistake(forwarder):
    with pytest.raises(PortError) as e:
        forwarder.publish([(("203.0.113.77", free_port(), "tcp"), ("127.0.0.1", 1))])
    assert e.value.kind == "invalid" and "203.0.113.77 is no address of this host" in e.value.message


def test_bytes_go_both_ways_and_a_half_close_passes_through(forwarder):
    backend = socket.create_server(("127.0.0.1", 0))
    payload = os.urandom(8 << 20)

    def serve() -> None:
        conn, _ = backend.accept()
        with conn:
            got = b""
            while chunk := conn.recv(1 << 20):
                got += chunk
            conn.sendall(got[::-1])  # answer after the client's EOF: its half-close came through

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = free_port()
    forwarder.publish([(("127.0.0.1", port, "tcp"), backend.getsockname())])
    forwarder.start()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := c.recv(1 << 20):
            answer += chunk
    assert answer == payload[::-1]
    t.join(5)
    backend.close()


def test_control_requests(forwarder):
    port = free_port()
    assert forwarder.handle({"publish": [["127.0.0.1", port, "tcp", "10.0.0.2", 80]]}) == \
        {"ports": [["127.0.0.1", port, "tcp", "10.0.0.2", 80]]}
    # the same host port again moves it to the new target
    assert forwarder.handle({"publish": [["127.0.0.1", port, "tcp", "10.0.0.3", 80]]})["ports"][0][3] == "10.0.0.3"
    assert forwarder.handle({"unpublish": [["127.0.0.1", port, "tcp"]]}) == {"ports": []}
    with pytest.raises(PortError):
        forwarder.handle({"frobnicate": True})


def test_a_resolver_on_the_hosts_loopback_is_reached_through_the_link(tmp_path):
    from dockyard.network.files import Resolver
    from dockyard.network.rootless import Outside

    outside = Outside(tmp_path)
    outside.dir.mkdir()
    local = Resolver(("127.0.0.1", "192.0.2.53"), ("example",))
    assert outside.host_resolvers(lambda: (local, None)) == (local, None)  # no link yet
    (outside.dir / "pasta.pid").write_text(f"{os.getpid()}\n")
    host, upstream = outside.host_resolvers(lambda: (local, None))
    assert host == Resolver(("169.254.1.1", "192.0.2.53"), ("example",)) and upstream is None
    # systemd-resolved's upstream list, when known, is what the engine uses instead
    resolved = Resolver(("192.0.2.1",))
    assert outside.host_resolvers(lambda: (Resolver(("127.0.0.53",)), resolved)) == (Resolver(("127.0.0.53",)), resolved)
