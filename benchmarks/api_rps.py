"""Requests per second of dockyard's API server with 100 containers: GET /_ping,
GET /containers/json?all=1 and GET /containers/{id}/json, from CONCURRENCY keep-alive
connections for SECONDS each; the host's Docker daemon is measured the same way, in the same
run, with 100 containers of its own (made and removed here) where it is up.

The client is httpload.c (compiled here with gcc): a Python client tops out below 1,000
requests per second on a small VM and would measure itself.
Run by hand as root: `.venv/bin/python benchmarks/api_rps.py [SECONDS]`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from api_common import dockyard_server, httpload, rate  # noqa: E402
from common import docker_available  # noqa: E402

CONTAINERS = 100
CONCURRENCY = 16
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
HOST_DOCKER = "/var/run/docker.sock"


def create_containers(sock: str, prefix: str) -> list[str]:
    import docker

    low = docker.APIClient(base_url=f"unix://{sock}")
    with ThreadPoolExecutor(8) as pool:
        return [c["Id"] for c in pool.map(lambda i: low.create_container("busybox", ["true"], name=f"{prefix}{i}"),
                                           range(CONTAINERS))]


def remove_containers(sock: str, ids: list[str]) -> None:
    import docker

    low = docker.APIClient(base_url=f"unix://{sock}")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: low.remove_container(c, force=True), ids))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, dockyard_server() as (sock, _):
        load = httpload(Path(tmp))
        targets = {"dockyard": (str(sock), create_containers(str(sock), "rps"))}
        if docker_available():
            targets["docker"] = (HOST_DOCKER, create_containers(HOST_DOCKER, "dyrps"))
        try:
            for label, path in (("/_ping", "/_ping"), ("/containers/json?all=1", "/containers/json?all=1"),
                                ("/containers/{id}/json", "/containers/{id}/json")):
                print(f"GET {label} ({CONTAINERS} containers, {CONCURRENCY} connections, {SECONDS:.0f} s):")
                rates = {}
                for name, (s, ids) in targets.items():
                    rates[name] = rate(load, s, path.replace("{id}", ids[len(ids) // 2]), CONCURRENCY, SECONDS)
                    ratio = f"   dockyard/{name} = {rates['dockyard'] / rates[name]:.2f}" if name != "dockyard" else ""
                    print(f"  {name:<9} {rates[name]:8.0f} req/s{ratio}")
        finally:
            if "docker" in targets:
                remove_containers(HOST_DOCKER, targets["docker"][1])


if __name__ == "__main__":
    main()
