"""The embedded DNS resolver's answers, over a real DB filled by the service (fakes for the kernel)."""

from dnslib import QTYPE, RCODE, DNSRecord

from dockyard.network.dns import Names, Resolver
from dockyard.network.endpoints import EndpointRequest

from .test_service import A, B, C, attach


def ask(resolver: Resolver, name: str, qtype: str = "A", client: str | None = None) -> DNSRecord:
    return DNSRecord.parse(resolver.answer(DNSRecord.question(name, qtype).pack(), tcp=False, client=client))


def test_names_aliases_and_short_ids_resolve_and_new_containers_appear(svc):
    net = svc.create("front", subnet="10.213.1.0/24")
    attach(svc, A, "web", mode="front", endpoint=EndpointRequest(aliases=("www",)))
    resolver = Resolver(Names(svc.db.path, net["Id"]), upstreams=[])
    for name in ("web", "WWW.", A[:12]):
        assert [str(r.rdata) for r in ask(resolver, name).rr] == ["10.213.1.2"]
    assert ask(resolver, "db").header.rcode == RCODE.SERVFAIL  # not ours, and no upstream to ask
    attach(svc, B, "db", mode="front")
    assert [str(r.rdata) for r in ask(resolver, "db").rr] == ["10.213.1.3"]
    assert str(ask(resolver, "2.1.213.10.in-addr.arpa", "PTR").rr[0].rdata) == "web."
    aaaa = ask(resolver, "web", "AAAA")
    assert aaaa.header.rcode == RCODE.NOERROR and aaaa.rr == []
    svc.detach(A)
    assert ask(resolver, "web").rr == []


def test_names_of_other_networks_are_not_answered(svc):
    front = svc.create("front", subnet="10.213.1.0/24")
    svc.create("back", subnet="10.213.2.0/24")
    attach(svc, A, "web", mode="back")
    resolver = Resolver(Names(svc.db.path, front["Id"]), upstreams=[])
    assert ask(resolver, "web").rr == []
    assert QTYPE.A == ask(resolver, "web").q.qtype


def test_a_container_resolves_names_on_every_network_it_shares(svc):
    front = svc.create("front", subnet="10.213.1.0/24")
    svc.create("back", subnet="10.213.2.0/24")
    attach(svc, A, "mover", mode="front")
    attach(svc, B, "peer", mode="back")
    attach(svc, C, "loner", mode="front")
    resolver = Resolver(Names(svc.db.path, front["Id"]), upstreams=[])
    assert ask(resolver, "peer", client="10.213.1.2").rr == []  # not connected to back yet
    svc.connect(A, "back")
    assert [str(r.rdata) for r in ask(resolver, "peer", client="10.213.1.2").rr] == ["10.213.2.2"]
    assert ask(resolver, "peer", client="10.213.1.3").rr == []  # loner shares no network with peer
    assert [str(r.rdata) for r in ask(resolver, "mover", client="10.213.1.3").rr] == ["10.213.1.2"]  # front first
