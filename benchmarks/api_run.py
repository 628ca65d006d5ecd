"""`docker run --rm busybox true` through the Engine API: dockyard's server, the real Docker
daemon (/var/run/docker.sock) and Podman's API service, all driven by the same docker CLI.

Run by hand as root: `.venv/bin/python benchmarks/api_run.py [RUNS]`. Engines alternate run by
run; each engine gets busybox loaded from dockyard's own save first, so they run the same image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, os.path.dirname(__file__))
from api_common import CpuGroup, dockyard_server  # noqa: E402
from common import DOCKYARD, report, timed  # noqa: E402

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
HOST_DOCKER = "/var/run/docker.sock"


def cli_env(sock: str) -> dict:
    return {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CLI_HINTS": "false"}


def load_busybox(archive: Path, env: dict) -> bool:
    with open(archive, "rb") as f:
        return subprocess.run([DOCKER, "load"], stdin=f, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0


def start_podman(tmp: Path) -> tuple[subprocess.Popen, str] | None:
    if not shutil.which("podman"):
        return None
    sock = tmp / "podman.sock"
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if sock.exists():
            return proc, str(sock)
        time.sleep(0.1)
    proc.terminate()
    return None


def wait_removed(env: dict) -> None:
    while subprocess.run([DOCKER, "ps", "-aq"], env=env, capture_output=True, text=True).stdout.strip():
        time.sleep(0.01)


@contextmanager
def api_engines(cpu: CpuGroup | None) -> Iterator[dict[str, dict]]:
    """The docker CLI's environment for each engine, each with busybox loaded from dockyard's
    own save: dockyard's throwaway server (in `cpu`), the host's dockerd where it runs, and a
    Podman API service where podman is installed."""
    with dockyard_server(cpu) as (sock, env), tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        archive = tmp / "busybox.tar"
        subprocess.run([DOCKYARD, "save", "-o", str(archive), "busybox"], env=env, check=True)
        engines = {"dockyard": cli_env(str(sock))}
        if os.path.exists(HOST_DOCKER) and load_busybox(archive, cli_env(HOST_DOCKER)):
            engines["docker"] = cli_env(HOST_DOCKER)
        podman = start_podman(tmp)
        if podman and load_busybox(archive, cli_env(podman[1])):
            engines["podman"] = cli_env(podman[1])
        try:
            yield engines
        finally:
            if podman:
                podman[0].terminate()
                podman[0].wait(10)


def with_cpu_group(run, runs: int, name: str = "") -> None:
    """`run(runs, cpu)` with a cpuacct group for dockyard's server where cgroup v1 has one."""
    cpu = CpuGroup(name) if os.path.isdir("/sys/fs/cgroup/cpuacct") else None
    try:
        run(runs, cpu)
    finally:
        if cpu:
            cpu.remove()


def run(runs: int, cpu: CpuGroup | None) -> None:
    with api_engines(cpu) as engines:
        times: dict[str, list[float]] = {name: [] for name in engines}
        cmd = [DOCKER, "run", "--rm", "busybox:latest", "true"]
        for name, e in engines.items():  # warm-up
            timed(cmd, env=e)
        used = 0.0
        for _ in range(runs):
            for name, e in engines.items():
                before = cpu.seconds() if cpu and name == "dockyard" else 0.0
                times[name].append(timed(cmd, env=e))
                if cpu and name == "dockyard":
                    wait_removed(e)  # the exit hook's work belongs to this run
                    used += cpu.seconds() - before
        report("docker run --rm busybox true (docker CLI over the API)", times.pop("dockyard"), times)
        if cpu:
            print(f"  dockyard CPU per run (server, shim, hooks, runtime; not the container): "
                  f"{used / runs * 1000:.0f} ms")


if __name__ == "__main__":
    with_cpu_group(run, int(sys.argv[1]) if len(sys.argv) > 1 else 10)
