"""Execs through the Engine API: `docker exec C true` and `docker exec -t C true` (the docker CLI),
and docker-py's `exec_run` (attached, and detach=True), against dockyard's server, the Docker
daemon (/var/run/docker.sock) and Podman's API service.

Run by hand as root: `.venv/bin/python benchmarks/api_exec.py [RUNS]`. Engines alternate run by
run, each with one running busybox (loaded from dockyard's own save) to exec in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from api_common import CpuGroup  # noqa: E402
from api_run import DOCKER, api_engines, with_cpu_group  # noqa: E402
from common import report, timed  # noqa: E402


def exec_run_seconds(client, container, detach: bool) -> float:
    t0 = time.perf_counter()
    container.exec_run(["true"], detach=detach)
    return time.perf_counter() - t0


def run(runs: int, cpu: CpuGroup | None) -> None:
    import docker

    with api_engines(cpu) as engines:
        names = {}
        try:
            for name, e in engines.items():
                names[name] = subprocess.run([DOCKER, "run", "-d", "busybox:latest", "sleep", "3600"], env=e,
                                             check=True, capture_output=True, text=True).stdout.strip()
            clients = {name: docker.DockerClient(base_url=e["DOCKER_HOST"]) for name, e in engines.items()}
            boxes = {name: clients[name].containers.get(names[name]) for name in engines}
            cases = {
                "docker exec C true (docker CLI over the API)": lambda n: timed([DOCKER, "exec", names[n], "true"],
                                                                                 env=engines[n]),
                "docker exec -t C true": lambda n: timed([DOCKER, "exec", "-t", names[n], "true"], env=engines[n]),
                "docker-py exec_run(['true'])": lambda n: exec_run_seconds(clients[n], boxes[n], False),
                "docker-py exec_run(['true'], detach=True)": lambda n: exec_run_seconds(clients[n], boxes[n], True),
            }
            for title, case in cases.items():
                times: dict[str, list[float]] = {name: [] for name in engines}
                for name in engines:  # warm-up
                    case(name)
                used = 0.0
                for _ in range(runs):
                    for name in engines:
                        before = cpu.seconds() if cpu and name == "dockyard" else 0.0
                        times[name].append(case(name))
                        if cpu and name == "dockyard":
                            used += cpu.seconds() - before
                report(title, times.pop("dockyard"), times)
                if cpu:
                    print(f"  dockyard CPU per exec (server, shim exec, monitor, hooks; not the command): "
                          f"{used / runs * 1000:.1f} ms")
        finally:
            for name, e in engines.items():
                if name in names:
                    subprocess.run([DOCKER, "rm", "-f", names[name]], env=e, capture_output=True)


if __name__ == "__main__":
    with_cpu_group(run, int(sys.argv[1]) if len(sys.argv) > 1 else 15, "-exec")
