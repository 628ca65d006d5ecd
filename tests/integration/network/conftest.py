"""Real-kernel fixtures: a NetworkService with its own bridge, nft table, subnets and run dir,
"containers" that are bare namespaces running busybox through nsenter, and a residue check."""

from __future__ import annotations

import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from dockyard.network.config import NetworkConfig
from dockyard.network.ipam import host_routes
from dockyard.network.owners import Registry, tag as owner_tag
from dockyard.network.service import NetworkService
from dockyard.store.metadata import MetadataDB
from tests.helpers import kernel


def free_subnets(count: int) -> list[str]:
    """/24s in 10.213.0.0/16 that no host route touches."""
    routes = host_routes()
    picks = random.sample(range(1, 255), 40)
    nets = [IPv4Network(f"10.213.{i}.0/24") for i in picks]
    return [str(n) for n in nets if not any(n.overlaps(r) for r in routes)][:count]


@dataclass
class Lab:
    svc: NetworkService
    tmp: Path
    subnets: list[str]
    procs: list[subprocess.Popen] = field(default_factory=list)

    def attach(self, cid: str, name: str, **kw):
        return self.svc.attach(cid, name, hostname=name, files_dir=self.tmp / "files" / cid[:12], **kw)

    def run(self, netns: str, *cmd: str, timeout: float = 10) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", f"--net={netns}", *cmd], capture_output=True, text=True, timeout=timeout)

    def httpd(self, netns: str, port: int = 80) -> None:
        """busybox httpd serving self.tmp/www inside the namespace; waits until it listens."""
        www = self.tmp / "www"
        if not www.exists():
            www.mkdir()
            (www / "hello.txt").write_text("hello from the container\n")
        p = subprocess.Popen(["nsenter", f"--net={netns}", "busybox", "httpd", "-f", "-p", str(port), "-h", str(www)])
        self.procs.append(p)
        for _ in range(100):
            if f":{port:04X} " in self.run(netns, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout:
                return
            time.sleep(0.02)
        raise AssertionError("httpd did not start")

    def stop_processes(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs.clear()

    def residue(self) -> list[str]:
        """Everything of this lab still in the kernel or the run dir."""
        table, found = self.svc.config.nft_table, []
        found += [line.split(":")[1].strip() for line in kernel.links(self.svc.config.owner).splitlines() if owner_tag(self.svc.config.owner) in line
                  or self.svc.config.bridge_name + ":" in line]
        addrs = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
        found += [line for line in addrs.splitlines() if any(s.rsplit(".", 1)[0] + "." in line for s in self.subnets)]
        if subprocess.run(["nft", "list", "table", "inet", table], capture_output=True).returncode == 0:
            found.append(f"nft table inet {table}")
        ct = subprocess.run(["conntrack", "-L"], capture_output=True, text=True).stdout
        found += [line for line in ct.splitlines() if any(s.rsplit(".", 1)[0] + "." in line for s in self.subnets)]
        mounts = Path("/proc/self/mounts").read_text()
        found += [line for line in mounts.splitlines() if str(self.tmp) in line]
        netns_dir = self.svc.run_dir / "netns"
        found += [str(p) for p in netns_dir.iterdir()] if netns_dir.exists() else []
        found += [f"dns server {n}" for n in self.svc.dns.running()]
        return found


@pytest.fixture
def lab(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tag = "dyt" + "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=5))
    subnets = free_subnets(4)
    db = MetadataDB(tmp_path / "dockyard.db")
    svc = NetworkService(db, tmp_path / "root", tmp_path / "run", NetworkConfig(os.urandom(4).hex(), tag, subnets[0], tag),
                         registry=Registry(tmp_path / "registry"))
    lab = Lab(svc, tmp_path, subnets)
    try:
        yield lab
    finally:
        lab.stop_processes()
        svc.reconcile(set())
        svc.prune()  # the default bridge outlives its containers, as docker0 does
        left = lab.residue()
        db.close()
        assert left == [], f"left behind: {left}"
