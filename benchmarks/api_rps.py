"""Requests per second of dockyard's API server with CONTAINERS containers (100 unless given):
GET /_ping, GET /containers/json?all=1 and GET /containers/{id}/json, from CONCURRENCY keep-alive
connections for SECONDS each; the host's Docker daemon is measured the same way, in the same
run, with as many containers of its own (made and removed here) where it is up.

Beside the list, the ceiling any aiohttp server meets: one answering every request with a fixed
body as long as dockyard's list (`bare aiohttp`). With many containers the list's body is large
(about 0.9 kB a container), and moving it bounds the rate, not the engine.

The client is httpload.c (compiled here with gcc): a Python client tops out below 1,000
requests per second on a small VM and would measure itself.
Run by hand as root: `.venv/bin/python benchmarks/api_rps.py [SECONDS [CONTAINERS]]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, os.path.dirname(__file__))
from api_common import dockyard_server, httpload, rate  # noqa: E402
from common import docker_available  # noqa: E402

CONCURRENCY = 16
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
CONTAINERS = int(sys.argv[2]) if len(sys.argv) > 2 else 100
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


BARE_SERVER = """
import sys
from aiohttp import web
body = open(sys.argv[2], "rb").read()
async def answer(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/{tail:.*}", answer)
web.run_app(app, path=sys.argv[1], print=lambda *a: print("listening", flush=True))
"""


@contextmanager
def bare_server(tmp: Path, body: bytes) -> Iterator[str]:
    """An aiohttp server answering `body` to every GET, on a socket in `tmp`."""
    sock, blob = tmp / "bare.sock", tmp / "bare.body"
    blob.write_bytes(body)
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(sock), str(blob)], stdout=subprocess.PIPE, text=True)
    try:
        if "listening" not in proc.stdout.readline():
            raise SystemExit("the bare aiohttp server did not start")
        yield str(sock)
    finally:
        proc.terminate()
        proc.wait(30)


def list_body(sock: str) -> bytes:
    import docker

    low = docker.APIClient(base_url=f"unix://{sock}")
    return low.get(low._url("/containers/json"), params={"all": 1}).content


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, dockyard_server() as (sock, _):
        load = httpload(Path(tmp))
        targets = {"dockyard": (str(sock), create_containers(str(sock), "rps"))}
        if docker_available():
            targets["docker"] = (HOST_DOCKER, create_containers(HOST_DOCKER, "dyrps"))
        try:
            body = list_body(str(sock))
            with bare_server(Path(tmp), body) as bare:
                print(f"GET of a fixed {len(body):,}-byte body (the list's size), {CONCURRENCY} connections:")
                for name, s in (("dockyard", str(sock)), ("bare aiohttp", bare), ("dockyard", str(sock))):
                    print(f"  {name:<13} {rate(load, s, '/containers/json?all=1', CONCURRENCY, SECONDS):8.0f} req/s"
                          + ("  (the list)" if name == "dockyard" else ""))
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
