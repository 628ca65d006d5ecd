"""Published TCP ports on the host's IPv6 loopback ([::1]:PORT), for dual-stack networks.

Every other host address reaches a published port through kernel DNAT (firewall.ruleset), but
IPv6 has no `route_localnet`: a reply de-NATed back to ::1 arrives on the bridge and the kernel
drops it. So, as Docker's docker-proxy does, [::1]:PORT is served in user space: a listener per
published port of the network's IPv6 endpoints, each connection spliced to the container's
IPv6 address. It runs as a thread of the network's helper process (the embedded DNS server,
which lives exactly while the network has containers) and follows the ports table, so a port
appears within a poll interval of the container's start and goes with it.
"""

from __future__ import annotations

import selectors
import socket
import sqlite3
import threading

POLL = 0.1  # seconds between looks at the DB (one PRAGMA when nothing changed)


class Loopback6Proxy:
    def __init__(self, db_path: str, network_id: str) -> None:
        self.db_path, self.network_id = db_path, network_id
        self._listeners: dict[int, tuple[socket.socket, tuple[str, int]]] = {}  # host port -> (socket, target)

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        sel = selectors.DefaultSelector()  # epoll: waits out the timeout even with nothing registered
        version = None
        while True:
            current = conn.execute("PRAGMA data_version").fetchone()[0]
            if current != version:
                version = current
                self._sync(self._wanted(conn), sel)
            for key, _ in sel.select(timeout=POLL):
                try:
                    client, _ = key.fileobj.accept()
                except OSError:
                    continue
                threading.Thread(target=splice, args=(client, key.data), daemon=True).start()

    def _wanted(self, conn: sqlite3.Connection) -> dict[int, tuple[str, int]]:
        rows = conn.execute("SELECT p.host_port, p.container_port, e.ip6 FROM ports p JOIN endpoints e "
                            "ON e.container_id = p.container_id AND e.network_id = p.network_id "
                            "WHERE p.network_id = ? AND p.proto = 'tcp' AND p.host_ip = '' AND e.ip6 != ''",
                            (self.network_id,)).fetchall()
        return {host_port: (ip6, container_port) for host_port, container_port, ip6 in rows}

    def _sync(self, wanted: dict[int, tuple[str, int]], sel: selectors.BaseSelector) -> None:
        for port, (sock, target) in list(self._listeners.items()):
            if wanted.get(port) != target:
                sel.unregister(sock)
                sock.close()
                del self._listeners[port]
        for port, target in wanted.items():
            if port in self._listeners:
                continue
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("::1", port))
                sock.listen(128)
            except OSError:  # a host process holds it: it keeps it, as with any host address
                sock.close()
                continue
            sel.register(sock, selectors.EVENT_READ, target)
            self._listeners[port] = (sock, target)


def splice(client: socket.socket, target: tuple[str, int]) -> None:
    """Copy both ways until each side has closed its half."""
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(262144):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    other = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    other.start()
    pump(client, upstream)
    other.join()
    client.close()
    upstream.close()
