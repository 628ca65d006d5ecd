"""Hub page speed: a repository page with 500 tags, its server time (the `Server-Timing` header)
and the time a client waits, warm (after one cold view); and the Docker Hub API's tag list of it.

Set-up (untimed): 500 tags over 20 images sharing a base layer, written into a fresh hub root
through the registry's storage, and `dockyard hub serve` on a free loopback port.

    .venv/bin/python benchmarks/hub_pages.py [RUNS]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests" / "integration" / "hub")]
from common import DOCKYARD, fmt, median  # noqa: E402
from hub_harness import fill_tags  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
TAGS = 500
TARGET_MS = 100


def view(url: str) -> tuple[float, float]:
    """(server ms from Server-Timing, client ms)."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        resp.read()
        server = float(resp.headers["Server-Timing"].split("dur=")[1])
    return server, (time.perf_counter() - start) * 1000


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-hub-pages-"))
    hub = None
    try:
        fill_tags(work / "hub", "big/app", TAGS)
        hub = subprocess.Popen([DOCKYARD, "hub", "--root", str(work / "hub"), "serve", "--addr", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        base = hub.stdout.readline().decode().split()[-1]
        url = f"{base}/r/big/app"
        cold = view(url)
        runs = [view(url) for _ in range(RUNS)]
        server, client = [r[0] for r in runs], [r[1] for r in runs]
        print(f"repository page with {TAGS} tags, {RUNS} warm views (cold: server {cold[0]:.1f} ms):")
        print(f"  server time (Server-Timing)  {fmt([s / 1000 for s in server])}")
        print(f"  client time                  {fmt([c / 1000 for c in client])}")
        ok = median(server) < TARGET_MS
        print(f"  median server time {median(server):.1f} ms (target < {TARGET_MS} ms: {'met' if ok else 'MISSED'})")
        api = [view(f"{base}/v2/repositories/big/app/tags?page_size=100") for _ in range(RUNS)]
        print(f"  Docker Hub API tag list (page of 100 of {TAGS}), server time  {fmt([a[0] / 1000 for a in api])}")
        print("  (Docker Hub's pages are a hosted service: no local figure to compare with)")
    finally:
        if hub is not None:
            hub.terminate()
            hub.wait(15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
