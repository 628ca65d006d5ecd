"""50 concurrent pulls of the Debian image (~121 MB) from `dockyard registry serve`.

Each client is its own process (so the clients do not share a GIL and the server sees 50
separate connections) and does what a pull does on the wire: GET /v2/, the manifest by tag,
then the config and layer blobs, reading every byte (size checked; digest checked by client 0).
All clients start together at a barrier. Not `dockyard pull` into 50 roots: that would time
50 layer unpacks (6 GB of file writes on this 2-vCPU VM) rather than the server. The same
run against the reference registry (docker-registry 2.8) gives the comparison.

    .venv/bin/python benchmarks/registry_concurrent.py [RUNS] [CLIENTS]
"""

from __future__ import annotations

import hashlib
import http.client
import json
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DEBIAN, DOCKYARD, debian_archive, env_for, timed
from registry_transfer import Server

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
REPO, TAG = "bench/debian", "1"
ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
CHUNK = 1 << 20


def _get(conn: http.client.HTTPConnection, path: str, headers: dict | None = None, digest: str | None = None) -> int:
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    if resp.status != 200:
        resp.read()
        raise RuntimeError(f"GET {path}: HTTP {resp.status}")
    h = hashlib.sha256() if digest else None
    n, buf = 0, bytearray(CHUNK)
    view = memoryview(buf)
    while got := resp.readinto(view):
        n += got
        if h:
            h.update(view[:got])
    if h and "sha256:" + h.hexdigest() != digest:
        raise RuntimeError(f"GET {path}: digest mismatch")
    return n


def pull(host: str, verify: bool, barrier, out) -> None:
    """One client: wait for the others, then pull; reports (ok, seconds, bytes, error)."""
    barrier.wait()
    t0 = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(host, timeout=120)
        _get(conn, "/v2/")
        conn.request("GET", f"/v2/{REPO}/manifests/{TAG}", headers={"Accept": ACCEPT})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"manifest: HTTP {resp.status}")
        body = resp.read()
        manifest = json.loads(body)
        total = len(body)
        for desc in [manifest["config"], *manifest["layers"]]:
            got = _get(conn, f"/v2/{REPO}/blobs/{desc['digest']}", digest=desc["digest"] if verify else None)
            if got != desc["size"]:
                raise RuntimeError(f"blob {desc['digest'][:19]}: {got} bytes, expected {desc['size']}")
            total += got
        conn.close()
        out.put((True, time.perf_counter() - t0, total, ""))
    except Exception as exc:  # noqa: BLE001 (counted as an error of this pull)
        out.put((False, time.perf_counter() - t0, 0, f"{type(exc).__name__}: {exc}"))


def storm(host: str, clients: int) -> dict:
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [ctx.Process(target=pull, args=(host, i == 0, barrier, out)) for i in range(clients)]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    ok = [r for r in results if r[0]]
    lat = sorted(r[1] for r in ok)
    return {"wall": wall, "bytes": sum(r[2] for r in ok), "errors": [r[3] for r in results if not r[0]],
            "p50": statistics.median(lat) if lat else float("nan"),
            "p99": lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))] if lat else float("nan")}


def main() -> None:
    tar = debian_archive()
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-concurrent-", dir="/var/tmp"))
    servers = {"dockyard": Server("dockyard", work), "reference": Server("reference", work)}
    results: dict[str, list[dict]] = {k: [] for k in servers}
    try:
        env = env_for(work / "client")
        timed([DOCKYARD, "load", "-q", "-i", str(tar)], env=env)
        for server in servers.values():
            server.start()
            ref = f"{server.host}/{REPO}:{TAG}"
            timed([DOCKYARD, "tag", BENCH_DEBIAN, ref], env=env)
            timed([DOCKYARD, "push", "-q", ref], env=env)
        for run in range(RUNS):
            for kind in (["dockyard", "reference"] if run % 2 == 0 else ["reference", "dockyard"]):
                r = storm(servers[kind].host, CLIENTS)
                results[kind].append(r)
                print(f"run {run + 1} {kind:<9}: {r['wall']:.2f} s, {r['bytes'] / 1e6 / r['wall']:.0f} MB/s, "
                      f"p50 {r['p50']:.2f} s, p99 {r['p99']:.2f} s, errors {len(r['errors'])}", flush=True)
        print(f"\n{CLIENTS} concurrent pulls (manifest + config + {tar.stat().st_size / 1e6:.0f} MB layer each), "
              f"median over {RUNS} runs [min–max]:")
        for kind, rs in results.items():
            def col(key, digits=2, rs=rs):
                xs = [r[key] for r in rs]
                return f"{statistics.median(xs):.{digits}f} [{min(xs):.{digits}f}–{max(xs):.{digits}f}]"
            for r in rs:
                r["mbps"] = r["bytes"] / 1e6 / r["wall"]
            errors = sum(len(r["errors"]) for r in rs)
            print(f"  {kind:<9} total {col('wall')} s   throughput {col('mbps', 0)} MB/s   latency p50 {col('p50')} s   "
                  f"p99 {col('p99')} s   errors {errors}")
            for e in sorted({e for r in rs for e in r["errors"]})[:5]:
                print(f"            {e}")
        d, ref = (statistics.median(r["mbps"] for r in results[k]) for k in ("dockyard", "reference"))
        print(f"  throughput ratio dockyard/reference = {d / ref:.2f}")
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
