"""The embedded DNS server of a user-defined network, and starting and stopping it.

One small process per network listens on the network's gateway address, port 53 (UDP and
TCP), in the host's namespace: it answers A (and PTR) queries for the names, aliases and short
IDs of containers on that network straight from the metadata DB, and forwards everything else
to the host's resolvers — loopback ones included, since it runs on the host side. The DB is
re-read only when SQLite's data_version says another process committed.

Run as `python -m dockyard.network.dns ...`; it imports sqlite3 and dnslib, nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import sqlite3
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


TTL = 600
FORWARD_TIMEOUT = 2.0


class Names:
    """What a container can resolve through one network's server, as Docker's embedded DNS
    answers: the names (container names, aliases, ids) on every user-defined network it
    shares with their owner, this network's first. Cached until the DB changes."""

    def __init__(self, db_path: str, network_id: str) -> None:
        self._conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False, timeout=5)
        self._network_id = network_id
        self._lock = threading.Lock()
        self._version = -1
        self._forward: dict[str, dict[str, list[str]]] = {}   # network -> name -> addresses
        self._reverse: dict[str, str] = {}                     # address -> name
        self._client: dict[str, list[str]] = {}               # address on this network -> its networks
        self._links: dict[str, dict[str, list[str]]] = {}     # address on this network -> link alias -> addresses

    def lookup(self, name: str, client: str | None = None) -> list[str]:
        """Addresses of `name` for the container at `client` (an address on this network)."""
        self._refresh()
        key = name.lower().rstrip(".")
        if key in self._links.get(client or "", {}):  # a legacy link of the asking container
            return self._links[client][key]
        for network in self._client.get(client or "", [self._network_id]):
            if key in self._forward.get(network, {}):
                return self._forward[network][key]
        return []

    def reverse(self, ip: str) -> str | None:
        self._refresh()
        return self._reverse.get(ip)

    def _refresh(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return
            rows = self._conn.execute("SELECT e.container_id, e.network_id, e.name, e.aliases, e.ip, e.ip6, e.config "
                                      "FROM endpoints e "
                                      "JOIN networks n ON n.id = e.network_id WHERE n.builtin = 0 "
                                      "ORDER BY e.seq").fetchall()
            forward: dict[str, dict[str, list[str]]] = {}
            reverse: dict[str, str] = {}
            networks: dict[str, list[str]] = {}
            for cid, network, name, aliases, ip, ip6, _ in rows:
                addresses = [a for a in (ip, ip6) if a]
                for n in {name, cid, cid[:12], *json.loads(aliases)}:
                    forward.setdefault(network, {}).setdefault(n.lower(), []).extend(addresses)
                for a in addresses:
                    reverse[a] = name
                networks.setdefault(cid, []).append(network)
            client, links = {}, {}
            here = forward.get(self._network_id, {})
            for cid, network, _, _, ip, _, config in rows:
                if network == self._network_id:
                    client[ip] = [network] + [n for n in networks[cid] if n != network]
                    for link in json.loads(config).get("Links") or ():  # "container[:alias]"
                        target, _, alias = link.lstrip("/").partition(":")
                        if target.lower() in here:
                            links.setdefault(ip, {})[(alias or target).lower()] = here[target.lower()]
            self._forward, self._reverse, self._client, self._version = forward, reverse, client, version
            self._links = links


class Resolver:
    """Builds the answer to one query: ours from `names`, anything else from the upstreams."""

    def __init__(self, names: Names | None, upstreams: list[str]) -> None:
        self.names, self.upstreams = names, upstreams

    def answer(self, data: bytes, tcp: bool, client: str | None = None) -> bytes | None:
        """The reply to one query from `client` (the asking container's address), None to drop it."""
        from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A, DNSRecord

        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        if self.names is not None and request.questions:
            q = request.q
            qname = str(q.qname).rstrip(".")
            if qname.endswith((".in-addr.arpa", ".ip6.arpa")):
                name = self.names.reverse(_reverse_pointer_address(qname))
                if name and q.qtype == QTYPE.PTR:
                    reply = request.reply()
                    reply.add_answer(RR(q.qname, QTYPE.PTR, rdata=PTR(name + "."), ttl=TTL))
                    return reply.pack()
            else:
                ips = self.names.lookup(qname, client)
                if ips:
                    reply = request.reply()
                    for ip in ips:
                        v6 = ":" in ip
                        if q.qtype in ((QTYPE.AAAA if v6 else QTYPE.A), QTYPE.ANY):
                            reply.add_answer(RR(q.qname, QTYPE.AAAA if v6 else QTYPE.A,
                                                rdata=AAAA(ip) if v6 else A(ip), ttl=TTL))
                    return reply.pack()
        response = self._forward(data, tcp)
        if response is None:
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return reply.pack()
        return response

    def _forward(self, data: bytes, tcp: bool) -> bytes | None:
        for server in self.upstreams:
            try:
                if tcp:
                    with socket.create_connection((server, 53), timeout=FORWARD_TIMEOUT) as s:
                        s.sendall(len(data).to_bytes(2, "big") + data)
                        return _read_tcp_message(s)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(FORWARD_TIMEOUT)
                    s.sendto(data, (server, 53))
                    while True:
                        response, _ = s.recvfrom(65535)
                        if response[:2] == data[:2]:
                            return response
            except OSError:
                continue
        return None


def _reverse_pointer_address(qname: str) -> str:
    """The address a PTR name stands for: "4.3.2.1.in-addr.arpa" -> "1.2.3.4", nibbles of
    ip6.arpa -> the compressed IPv6 address ("" when malformed)."""
    import ipaddress
    if qname.endswith(".in-addr.arpa"):
        return ".".join(reversed(qname[: -len(".in-addr.arpa")].split(".")))
    nibbles = "".join(reversed(qname[: -len(".ip6.arpa")].split(".")))
    try:
        return str(ipaddress.IPv6Address(int(nibbles, 16))) if len(nibbles) == 32 else ""
    except ValueError:
        return ""


def _read_tcp_message(s: socket.socket) -> bytes | None:
    head = _read_exact(s, 2)
    return _read_exact(s, int.from_bytes(head, "big")) if head else None


def _read_exact(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def serve(udp: socket.socket, tcp: socket.socket, resolver: Resolver) -> None:
    """Answer forever; UDP queries on a small pool (a slow upstream must not stall local names)."""
    pool = ThreadPoolExecutor(max_workers=8)
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ)
    sel.register(tcp, selectors.EVENT_READ)

    def reply_udp(data: bytes, peer) -> None:
        response = resolver.answer(data, tcp=False, client=peer[0])
        if response is not None:
            udp.sendto(response, peer)

    def serve_tcp(conn: socket.socket, peer) -> None:
        with conn:
            conn.settimeout(10)
            try:
                while (data := _read_tcp_message(conn)) is not None:
                    response = resolver.answer(data, tcp=True, client=peer[0])
                    if response is None:
                        return
                    conn.sendall(len(response).to_bytes(2, "big") + response)
            except OSError:
                return

    while True:
        for key, _ in sel.select():
            if key.fileobj is udp:
                data, peer = udp.recvfrom(65535)
                pool.submit(reply_udp, data, peer)
            else:
                conn, peer = tcp.accept()
                threading.Thread(target=serve_tcp, args=(conn, peer), daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """Bind first (so the starter learns about a clash), then detach and write the pid file."""
    ap = argparse.ArgumentParser(prog="dockyard-dns")
    ap.add_argument("--db", required=True)
    ap.add_argument("--network", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", action="append", default=[])
    ap.add_argument("--no-names", action="store_true")
    ap.add_argument("--loopback6", action="store_true", help="serve the network's published ports on [::1] too")
    ap.add_argument("--pidfile", required=True)
    args = ap.parse_args(argv)
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((args.listen, 53))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((args.listen, 53))
        tcp.listen(64)
    except OSError as e:
        sys.stderr.write(f"cannot listen on {args.listen}:53: {e.strerror}\n")
        sys.exit(1)
    names = None if args.no_names else Names(args.db, args.network)
    resolver = Resolver(names, args.upstream)
    pid = os.fork()
    if pid:
        tmp = f"{args.pidfile}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{pid}\n")
        os.replace(tmp, args.pidfile)
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.loopback6:  # a dual-stack network: its published ports on [::1] live here too
        from dockyard.network.loopback6 import Loopback6Proxy
        threading.Thread(target=Loopback6Proxy(args.db, args.network).run, daemon=True).start()
    serve(udp, tcp, resolver)


if __name__ == "__main__":
    main()
