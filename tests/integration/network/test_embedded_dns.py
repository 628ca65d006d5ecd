"""DNS forwarding: a host resolver on loopback (like systemd-resolved) is reached through the
per-network server, which runs on the host side."""

import socket
import threading

import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from dockyard.network.files import parse_resolv

pytestmark = pytest.mark.root

C1 = "1" * 64


@pytest.fixture
def loopback_resolver():
    """A stand-in host resolver on 127.0.0.77:53 that knows one name."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.77", 53))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(512)
            except socket.timeout:
                continue
            req = DNSRecord.parse(data)
            reply = req.reply()
            if str(req.q.qname) == "upstream.example.":
                reply.add_answer(RR(req.q.qname, QTYPE.A, rdata=A("192.0.2.77"), ttl=60))
            sock.sendto(reply.pack(), peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield
    stop.set()
    t.join()
    sock.close()


def test_names_forwarded_to_a_loopback_host_resolver(lab, loopback_resolver):
    lab.svc.host_resolvers = lambda: (parse_resolv("nameserver 127.0.0.77\n"), None)
    net = lab.svc.create("front", subnet=lab.subnets[1])
    gateway = net["IPAM"]["Config"][0]["Gateway"]
    c = lab.attach(C1, "client", mode="front")
    res = lab.run(c.netns_path, "busybox", "nslookup", "upstream.example", gateway)
    assert "192.0.2.77" in res.stdout, res.stdout + res.stderr
    # The default bridge cannot reach 127.0.0.77 either: it gets a forwarder on its gateway.
    d = lab.attach("2" * 64, "plain")
    assert f"nameserver {d.gateway}" in (lab.tmp / "files" / ("2" * 12) / "resolv.conf").read_text()
    res = lab.run(d.netns_path, "busybox", "nslookup", "upstream.example", d.gateway)
    assert "192.0.2.77" in res.stdout, res.stdout + res.stderr
    assert c.ip not in lab.run(d.netns_path, "busybox", "nslookup", "client", d.gateway).stdout  # names stay per network
