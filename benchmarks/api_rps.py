"""Requests per second of dockyard's API server: GET /_ping and GET /containers/json?all=1 with
100 containers, from CONCURRENCY keep-alive clients for SECONDS each; the host's Docker daemon
is measured the same way (with whatever containers it has) where present.

Run by hand as root: `.venv/bin/python benchmarks/api_rps.py`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from api_common import dockyard_server  # noqa: E402

CONTAINERS = 100
CONCURRENCY = 16
SECONDS = 3.0
HOST_DOCKER = "/var/run/docker.sock"


async def rate(sock: str, path: str) -> float:
    import aiohttp

    done = 0
    deadline = time.perf_counter() + SECONDS
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock, limit=CONCURRENCY)) as s:
        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with s.get(f"http://localhost{path}") as r:
                    await r.read()
                    if r.status != 200:
                        raise SystemExit(f"{path}: HTTP {r.status}: {await r.text()}")
                done += 1
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - t0)


def create_containers(sock: str) -> None:
    import docker
    from concurrent.futures import ThreadPoolExecutor

    low = docker.APIClient(base_url=f"unix://{sock}")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: low.create_container("busybox", ["true"], name=f"rps{i}"), range(CONTAINERS)))


def main() -> None:
    with dockyard_server() as (sock, _):
        create_containers(str(sock))
        targets = {"dockyard": str(sock)}
        if os.path.exists(HOST_DOCKER):
            targets["docker"] = HOST_DOCKER
        for path in ("/_ping", "/containers/json?all=1"):
            print(f"GET {path} ({CONCURRENCY} clients, {SECONDS:.0f} s):")
            for name, s in targets.items():
                print(f"  {name:<9} {asyncio.run(rate(s, path)):8.0f} req/s")


if __name__ == "__main__":
    main()
