"""What networking costs a real `dockyard run` container, end to end through the CLI.

1. Start latency: `dockyard run --rm --network bridge busybox true` against `--network none`
   (median over 20 each, alternating run by run); the difference is what the bridge adds
   (target: < 30 ms). Measured twice: with the default bridge made and removed by every run
   (nothing else on it, the first-container case) and with another container keeping it up.
2. Throughput: a 200 MB file from a container's busybox httpd through a published port, over
   127.0.0.1 and over the host's own address, against the same file served by a busybox httpd
   on the host directly (median over 20 downloads each, interleaved; target: >= 80 % of direct);
   the container's own address without NAT shows what the veth and bridge cost by themselves.

Run by hand as root: `.venv/bin/python benchmarks/network_run.py`. Uses a root, bridge, nft table
and cgroup parent of its own and removes them at the end.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Network
from pathlib import Path

from dockyard.network.ipam import host_routes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, teardown  # noqa: E402

ROUNDS = 20
SIZE_MB = 200


def host_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.254", 9))  # a UDP connect picks the source address without sending
        return s.getsockname()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def free_subnet() -> str:
    routes = host_routes()
    for i in random.sample(range(1, 255), 254):
        net = IPv4Network(f"10.215.{i}.0/24")
        if not any(net.overlaps(r) for r in routes):
            return str(net)
    raise SystemExit("no free /24 in 10.215.0.0/16")


def dockyard(env: dict, *args: str) -> str:
    p = subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"dockyard {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def timed_run(env: dict, network: str) -> float:
    t = time.perf_counter()
    dockyard(env, "run", "--rm", "--network", network, "busybox", "true")
    return time.perf_counter() - t


def download(host: str, port: int) -> float:
    """MB/s for one GET of the big file (raw socket, 1 MiB reads)."""
    buf = bytearray(1 << 20)
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
        t, total = time.perf_counter(), 0
        while n := s.recv_into(buf):
            total += n
        elapsed = time.perf_counter() - t
    if total < SIZE_MB << 20:
        raise SystemExit(f"short download from {host}:{port}: {total} bytes")
    return total / elapsed / 1e6


def wait_http(host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.sendall(b"HEAD /big HTTP/1.0\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1."):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answers on {host}:{port}")


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:7.1f} ms  [{min(xs) * 1000:.1f}–{max(xs) * 1000:.1f}]"


def start_latency(env: dict) -> None:
    print(f"start latency, `run --rm ... busybox true`, median of {ROUNDS} [min–max]:")
    for label, keep_bridge_up in (("bridge made per run", False), ("bridge already up", True)):
        if keep_bridge_up:
            dockyard(env, "run", "-d", "--name", "bench-keeper", "busybox", "sleep", "3600")
        for net in ("none", "bridge"):  # warm-up: imports, page cache, first bridge
            timed_run(env, net)
        none, bridge = [], []
        for _ in range(ROUNDS):
            none.append(timed_run(env, "none"))
            bridge.append(timed_run(env, "bridge"))
        added = (statistics.median(bridge) - statistics.median(none)) * 1000
        print(f"  {label}:")
        print(f"    --network none    {ms(none)}")
        print(f"    --network bridge  {ms(bridge)}")
        print(f"    added by bridge   {added:7.1f} ms   (target < 30 ms: {'ok' if added < 30 else 'MISSED'})")
        if keep_bridge_up:
            dockyard(env, "rm", "-f", "bench-keeper")


def throughput(env: dict, www: Path) -> None:
    published, direct, host = free_port(), free_port(), host_address()
    dockyard(env, "run", "-d", "--name", "bench-web", "-p", f"{published}:80", "-v", f"{www}:/www:ro",
             "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    ip = json.loads(dockyard(env, "inspect", "bench-web"))[0]["NetworkSettings"]["IPAddress"]
    busybox = shutil.which("busybox") or "/bin/busybox"
    httpd = subprocess.Popen([busybox, "httpd", "-f", "-p", f"0.0.0.0:{direct}", "-h", str(www)])
    try:
        paths = {"direct host httpd (127.0.0.1)": ("127.0.0.1", direct),
                 f"direct host httpd ({host})": (host, direct),
                 "published port via 127.0.0.1": ("127.0.0.1", published),
                 f"published port via {host}": (host, published),
                 f"container address {ip}:80 (no NAT)": (ip, 80)}
        for h, p in paths.values():
            wait_http(h, p)
            download(h, p)  # warm-up
        results: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(ROUNDS):
            for name, (h, p) in paths.items():
                results[name].append(download(h, p))
        med = {name: statistics.median(xs) for name, xs in results.items()}
        base = med["direct host httpd (127.0.0.1)"]
        print(f"\nthroughput, {SIZE_MB} MB over HTTP, median of {ROUNDS} [min–max], % of direct via 127.0.0.1:")
        for name, xs in results.items():
            print(f"  {name:40} {med[name]:7.0f} MB/s  [{min(xs):.0f}–{max(xs):.0f}]  {med[name] / base * 100:5.0f} %")
        for via in ("127.0.0.1", host):
            ratio = med[f"published port via {via}"] / med[f"direct host httpd ({via})"]
            print(f"  published / direct via {via}: {ratio * 100:.0f} % (target >= 80 %: {'ok' if ratio >= 0.8 else 'MISSED'})")
    finally:
        httpd.kill()
        httpd.wait()
        subprocess.run([DOCKYARD, "rm", "-f", "bench-web"], env=env, capture_output=True)


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    tag = "dyb" + secrets.token_hex(3)
    tmp = Path(tempfile.mkdtemp(prefix="dyb-", dir="/tmp"))   # short: shim sockets live in the run dir
    www = Path(tempfile.mkdtemp(prefix="dyb-www-", dir="/dev/shm"))  # the file from RAM, not the disk
    env = {**os.environ, "DOCKYARD_ROOT": str(tmp / "root"), "DOCKYARD_RUN_DIR": str(tmp / "run")}
    (tmp / "root").mkdir()
    (tmp / "root" / "daemon.json").write_text(json.dumps(
        {"bridge": tag, "nft-table": tag, "cgroup-parent": "/" + tag, "default-subnet": free_subnet()}))
    chunk = os.urandom(1 << 20)
    with open(www / "big", "wb") as f:
        for _ in range(SIZE_MB):
            f.write(chunk)
    try:
        dockyard(env, "image", "bootstrap", "busybox")
        start_latency(env)
        throughput(env, www)
    finally:
        teardown(env)
        shutil.rmtree(www, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
