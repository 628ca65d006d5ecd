"""Setup latency a container pays for its network: attach + detach on a bridge network (namespace,
veth, nftables, files) against `--network none` (namespace only); median over 20.
Run by hand as root: `.venv/bin/python benchmarks/network_attach.py`.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from dockyard.network.config import NetworkConfig
from dockyard.network.ports import parse_publish
from dockyard.network.service import NetworkService
from dockyard.store.metadata import MetadataDB

ROUNDS = 20


def measure(svc: NetworkService, files: Path, **kw) -> tuple[float, float]:
    attach, detach = [], []
    for i in range(ROUNDS):
        cid = f"{i:064x}"
        t = time.perf_counter()
        svc.attach(cid, f"c{i}", hostname=f"c{i}", files_dir=files / cid[:12], **kw)
        attach.append(time.perf_counter() - t)
        t = time.perf_counter()
        svc.detach(cid)
        detach.append(time.perf_counter() - t)
    return statistics.median(attach) * 1000, statistics.median(detach) * 1000


def main() -> None:
    tag = "dyb" + "".join(random.choices("abcdefghijklmnopqrstuvwxyz", k=5))
    with tempfile.TemporaryDirectory() as tmp:
        db = MetadataDB(Path(tmp) / "dockyard.db")
        svc = NetworkService(db, Path(tmp), Path(tmp) / "run", NetworkConfig(tag, "10.213.251.0/24", tag))
        files = Path(tmp) / "files"
        try:
            svc.create("user", subnet="10.213.252.0/24")
            measure(svc, files, mode="none")  # warm-up: imports, first bridge
            print(f"{'mode':36} {'attach ms':>10} {'detach ms':>10}")
            for label, kw in (("none", {"mode": "none"}), ("default bridge", {}),
                              ("default bridge + 2 published ports", {"ports": parse_publish("80") + parse_publish("53/udp")}),
                              ("user network (+ DNS server)", {"mode": "user"})):
                a, d = measure(svc, files, **kw)
                print(f"{label:36} {a:10.1f} {d:10.1f}")
        finally:
            svc.reconcile(set())
            svc.prune()  # the default bridge outlives its containers, as docker0 does
            db.close()


if __name__ == "__main__":
    main()
