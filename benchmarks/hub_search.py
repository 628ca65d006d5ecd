"""Hub search over 10,000 repositories: `GET /v1/search` answer times, as `docker search` asks.

Set-up (untimed): a hub root with 10,000 repositories (empty ones: search reads the hub's index,
not the images) in 100 namespaces, a short description on every third, 500 of them private,
and `dockyard hub serve --auth accounts` on a free loopback port with one user who may read 50
of the private ones. Each query is asked RUNS times over one kept-alive connection, anonymously
and as that user; the figure is the median round trip (server time plus loopback, which is
tens of microseconds). The issue's bound is 50 ms. Docker Hub's own search cannot be run here.

    .venv/bin/python benchmarks/hub_search.py [RUNS]
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
REPOS = 10_000
WORDS = ("web", "db", "cache", "queue", "proxy", "auth", "api", "worker", "cron", "metrics")
QUERIES = ("web", "ns7/", "api-42", "metrics", "zzz-no-match", "e")


def fill(root: Path) -> None:
    from dockyard.hub.accounts import policy
    from dockyard.hub.accounts.store import Accounts
    from dockyard.hub.discovery.info import RepoInfo
    from dockyard.hub.state import HubState

    state = HubState(root)
    names = [f"ns{i % 100}/{WORDS[i % len(WORDS)]}-{i}" for i in range(REPOS)]
    for name in names:
        (root / "repositories" / name / "_manifests" / "tags").mkdir(parents=True)
    info, accounts = RepoInfo(state.db), Accounts(state.db)
    info.sync(names)
    with state.db.write() as c:
        c.executemany("UPDATE disc_repos SET description=? WHERE repo=?",
                      [(f"The {WORDS[i % 7]} service number {i}", n) for i, n in enumerate(names) if i % 3 == 0])
        c.executemany("INSERT INTO hub_private VALUES (?)", [(n,) for n in names[::20]])
    accounts.add_user("bench", "bench-password", rounds=4)
    for name in names[::20][:50]:
        accounts.grant(name, "user:bench", policy.READ)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hub-search-") as tmp:
        root = Path(tmp) / "hub"
        t0 = time.perf_counter()
        fill(root)
        print(f"set-up: {REPOS} repositories in {time.perf_counter() - t0:.1f} s")
        proc = subprocess.Popen([sys.executable, "-m", "dockyard.hub", "--root", str(root), "serve", "--addr",
                                 "127.0.0.1:0", "--auth", "accounts"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            url = proc.stdout.readline().decode().split()[-1]
            auth = {"Authorization": "Basic " + base64.b64encode(b"bench:bench-password").decode()}
            with httpx.Client(base_url=url, timeout=30) as client:
                client.get("/v1/search", params={"q": "web"}, headers=auth)  # bcrypt once; remembered after
                print(f"{'query':>14} {'who':>9} {'results':>8} {'median ms':>10} {'min':>7} {'max':>7}")
                for q in QUERIES:
                    for who, headers in (("anonymous", {}), ("member", auth)):
                        times, total = [], 0
                        for _ in range(RUNS):
                            t = time.perf_counter()
                            resp = client.get("/v1/search", params={"q": q, "n": "25"}, headers=headers)
                            times.append((time.perf_counter() - t) * 1000)
                            total = resp.json()["num_results"]
                        print(f"{q:>14} {who:>9} {total:>8} {median(times):>10.1f} {min(times):>7.1f} {max(times):>7.1f}")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
