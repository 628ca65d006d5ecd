"""Published-port cost: throughput and connection rate through kernel DNAT (what dockyard uses),
through a userland proxy (the alternative, here a plain Python relay), direct to the
container's address, and the same server with no container at all (the issue's "direct"
figure, which the ratios are taken against). Paths take turns, run by run, so drift hits all
alike. Run by hand as root: `.venv/bin/python benchmarks/network_ports.py`.
"""

from __future__ import annotations

import random
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from dockyard.network.config import NetworkConfig
from dockyard.network.loopback6 import splice
from dockyard.network.ports import parse_publish
from dockyard.network.service import NetworkService
from dockyard.store.metadata import MetadataDB

SIZE_MB = 512
RATE_SECONDS = 3.0


def download(host: str, port: int) -> float:
    """MB/s for one GET of the big file."""
    buf = bytearray(1 << 20)
    with socket.create_connection((host, port)) as s:
        s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
        t, total = time.perf_counter(), 0
        while n := s.recv_into(buf):
            total += n
        elapsed = time.perf_counter() - t
    assert total > SIZE_MB << 20, total
    return total / elapsed / 1e6


def connection_rate(host: str, port: int) -> float:
    """Sequential tiny GETs per second."""
    end, count = time.perf_counter() + RATE_SECONDS, 0
    while time.perf_counter() < end:
        with socket.create_connection((host, port)) as s:
            s.sendall(b"GET /small HTTP/1.0\r\n\r\n")
            while s.recv(65536):
                pass
        count += 1
    return count / RATE_SECONDS


def userland_proxy(target: tuple[str, int]) -> int:
    """A relay on 127.0.0.1 (thread per direction, the [::1] relay's), standing in for a per-port proxy process."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)

    def accept() -> None:
        while True:
            client, _ = lsock.accept()
            threading.Thread(target=splice, args=(client, target), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return lsock.getsockname()[1]


def main() -> None:
    tag = "dyb" + "".join(random.choices("abcdefghijklmnopqrstuvwxyz", k=5))
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir="/dev/shm") as www:
        Path(www, "big").write_bytes(b"\0" * (SIZE_MB << 20))
        Path(www, "small").write_text("ok\n")
        db = MetadataDB(Path(tmp) / "dockyard.db")
        svc = NetworkService(db, Path(tmp), Path(tmp) / "run", NetworkConfig(tag, tag, "10.213.250.0/24", tag))
        servers: list[subprocess.Popen] = []
        try:
            a = svc.attach("b" * 64, "bench", hostname="bench", files_dir=Path(tmp) / "files",
                           ports=parse_publish("80"))
            port = a.ports[0].host_port
            servers.append(subprocess.Popen(["nsenter", f"--net={a.netns_path}", "busybox", "httpd", "-f", "-p", "80",
                                             "-h", www]))
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                bare = s.getsockname()[1]
            servers.append(subprocess.Popen(["busybox", "httpd", "-f", "-p", f"127.0.0.1:{bare}", "-h", www]))
            time.sleep(0.3)
            host_ip = subprocess.run(["ip", "-4", "route", "get", "192.0.2.254"], capture_output=True,
                                     text=True).stdout.split(" src ")[1].split()[0]
            proxy = userland_proxy((a.ip, 80))
            paths = {"no container (host httpd)": ("127.0.0.1", bare), "direct to container": (a.ip, 80),
                     "DNAT via 127.0.0.1": ("127.0.0.1", port), f"DNAT via {host_ip}": (host_ip, port),
                     "userland proxy (python)": ("127.0.0.1", proxy)}
            mbps: dict[str, list[float]] = {name: [] for name in paths}
            rates: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(3):
                for name, (host, p) in paths.items():
                    mbps[name].append(download(host, p))
                    rates[name].append(connection_rate(host, p))
            base_mbps, base_rate = (statistics.median(xs["no container (host httpd)"]) for xs in (mbps, rates))
            print(f"{'path':28} {'MB/s (median of 3)':>20} {'of no-container':>16} {'conn/s':>10} {'of no-container':>16}")
            for name in paths:
                m, r = statistics.median(mbps[name]), statistics.median(rates[name])
                print(f"{name:28} {m:20.0f} {m / base_mbps:15.0%} {r:10.0f} {r / base_rate:15.0%}")
        finally:
            for server in servers:
                server.kill()
                server.wait()
            svc.reconcile(set())
            svc.prune()  # the default bridge outlives its containers, as docker0 does
            db.close()


if __name__ == "__main__":
    main()
