"""Rootless published ports: throughput and connection rate through dockyard's forwarder
(dockyard.network.rootless: a host listener splicing into the rootless netns) and through
pasta's own port forwarding (`pasta -t HOST:NS`, which can't be changed while it runs), each
as a share of the same server on the host with no namespace in the way. Both rootless paths
end at the same kind of server (a sendfile(2) one) listening in a stand-in pause process's network
namespace, so only the forwarding differs; rootful dockyard's kernel DNAT to a container is
measured beside them. Paths take turns, run by run.

Run by hand as root (it makes and removes a throwaway user): `.venv/bin/python benchmarks/rootless_ports.py`.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from network_ports import SIZE_MB, connection_rate, download

from dockyard.network.config import NetworkConfig
from dockyard.network.ports import parse_publish
from dockyard.network.service import NetworkService
from dockyard.store.metadata import MetadataDB

PYTHON = sys.executable
# the server at each path's end: sendfile(2) of the big file (busybox httpd's ~300 MB/s here would
# hide what the paths cost), a few bytes for anything else; argv: address, port, directory
SERVER = """
import os, socket, sys
srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
while True:
    conn, _ = srv.accept()
    with conn:
        request = conn.recv(4096)
        if b"/big" in request:
            with open(os.path.join(sys.argv[3], "big"), "rb") as f:
                conn.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\n")
                conn.sendfile(f)
        else:
            conn.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\nok\\n")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing answers on {host}:{port}")
            time.sleep(0.05)


def main() -> None:
    name = "dyrb" + secrets.token_hex(3)
    subprocess.run(["useradd", "--no-create-home", name], check=True)
    uid = pwd.getpwnam(name).pw_uid
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--init-groups", "--"]
    procs: list[subprocess.Popen] = []
    tag = name.replace("dyrb", "dyb")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as www, tempfile.TemporaryDirectory() as run, \
            tempfile.TemporaryDirectory() as rootful:
        os.chmod(www, 0o755)
        os.chown(run, uid, uid)
        Path(www, "big").write_bytes(b"\0" * (SIZE_MB << 20))
        Path(www, "small").write_text("ok\n")
        db = MetadataDB(Path(rootful) / "dockyard.db")
        svc = NetworkService(db, Path(rootful), Path(rootful) / "run", NetworkConfig(tag, tag, "10.213.251.0/24", tag))
        try:
            a = svc.attach("b" * 64, "bench", hostname="bench", files_dir=Path(rootful) / "files",
                           ports=parse_publish("80"))
            procs.append(subprocess.Popen(["nsenter", f"--net={a.netns_path}", PYTHON, "-c", SERVER, "0.0.0.0", "80",
                                           www]))

            def pause() -> int:
                p = subprocess.Popen(as_user + ["unshare", "--user", "--map-root-user", "--net", "--mount", "sh", "-c",
                                                "ip link set lo up && exec sleep 100000"])
                procs.append(p)
                time.sleep(0.3)
                return p.pid

            def server_in(pid: int) -> None:
                procs.append(subprocess.Popen(as_user + ["nsenter", "-t", str(pid), "-U", "-n", "--preserve-credentials",
                                                         PYTHON, "-c", SERVER, "0.0.0.0", "80", www]))

            ours, theirs = pause(), pause()
            subprocess.run(as_user + [PYTHON, "-c", "import sys; from dockyard.network import rootless; "
                                      "from dockyard.network.ports import PortBinding as B; "
                                      "o = rootless.start_outside(int(sys.argv[1]), sys.argv[2]); "
                                      "rootless.publish(o, [B('', int(sys.argv[3]), 80, 'tcp')], '127.0.0.1')",
                                      str(ours), run, str(forwarded := free_port())], check=True)
            pasta_port = free_port()
            subprocess.run(as_user + ["pasta", "--config-net", "--quiet", "-t", f"{pasta_port}:80", "-u", "none",
                                      "-T", "none", "-U", "none", "-P", f"{run}/bench-pasta.pid", str(theirs)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            server_in(ours)
            server_in(theirs)
            bare = free_port()
            procs.append(subprocess.Popen([PYTHON, "-c", SERVER, "127.0.0.1", str(bare), www]))
            host_ip = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                                     text=True).stdout.split()[3].split("/")[0]
            paths = {"host server, no namespace": ("127.0.0.1", bare),
                     "rootful DNAT via 127.0.0.1": ("127.0.0.1", a.ports[0].host_port),
                     f"rootful DNAT via {host_ip}": (host_ip, a.ports[0].host_port),
                     "forwarder via 127.0.0.1": ("127.0.0.1", forwarded),
                     f"forwarder via {host_ip}": (host_ip, forwarded),
                     "pasta -t via 127.0.0.1": ("127.0.0.1", pasta_port),
                     f"pasta -t via {host_ip}": (host_ip, pasta_port)}
            for host, port in paths.values():
                wait_port(host, port)
            mbps: dict[str, list[float]] = {n: [] for n in paths}
            rates: dict[str, list[float]] = {n: [] for n in paths}
            for _ in range(3):
                for n, (host, port) in paths.items():
                    mbps[n].append(download(host, port))
                    rates[n].append(connection_rate(host, port))
            base_mbps, base_rate = (statistics.median(xs["host server, no namespace"]) for xs in (mbps, rates))
            print(f"{'path':28} {'MB/s (median of 3)':>20} {'of host':>8} {'conn/s':>8} {'of host':>8}")
            for n in paths:
                m, r = statistics.median(mbps[n]), statistics.median(rates[n])
                print(f"{n:28} {m:20.0f} {m / base_mbps:8.0%} {r:8.0f} {r / base_rate:8.0%}")
        finally:
            for p in procs:
                p.kill()
                p.wait()
            subprocess.run(as_user + [PYTHON, "-c", "import sys; from dockyard.network import rootless; "
                                      "rootless.stop(rootless.Outside(sys.argv[1]))", run])
            pid = Path(run, "bench-pasta.pid")
            if pid.exists():
                subprocess.run(["kill", pid.read_text().strip()])
            svc.reconcile(set())
            svc.prune()
            db.close()
            time.sleep(0.2)
            subprocess.run(["userdel", name])
            shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
