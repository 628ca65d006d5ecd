"""`run -d -p PORT:80 busybox httpd` and, once it answers, `rm -f` of it: the command's own wall
time and CPU (its process tree's; a daemon's CPU is not in it), engines in turn round by round:
dockyard, with DOCKYARD_BASE=/path/to/another/dockyard launcher that one too (on a root of its
own), Podman and Docker. A publish and an unpublish are what these pay on top of a plain start
and removal (the time to the first answer is container_run.py's `port` section).

Usage: port_start.py [ROUNDS=12]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, docker_available, median, podman_available, teardown  # noqa: E402
from container_run import _get_200, dockyard_env, free_port  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 12


def timed(cmd: list[str], env: dict | None) -> tuple[float, float]:
    """(wall ms, CPU ms of the command's process tree)."""
    before, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall, after = (time.perf_counter() - t) * 1000, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dyb-", dir="/tmp") as tmp:
        engines: dict[str, tuple[list[str], dict | None]] = {"dockyard": ([DOCKYARD], dockyard_env(Path(tmp)))}
        if os.environ.get("DOCKYARD_BASE"):
            engines["base"] = ([os.environ["DOCKYARD_BASE"]], dockyard_env(Path(tmp) / "base", "b"))
        for cli, env in engines.values():
            subprocess.run([*cli, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        if podman_available():
            engines["podman"] = (["podman"], None)
        if docker_available():
            engines["docker"] = (["docker"], None)
        times: dict[str, dict[str, list[tuple[float, float]]]] = {e: {"run -d -p": [], "rm -f": []} for e in engines}
        print(f"load average at the start: {os.getloadavg()[0]:.1f}")
        try:
            for i in range(ROUNDS + 1):  # the first round warms up
                for engine, (cli, env) in engines.items():
                    port, name = free_port(), f"ps{os.getpid()}-{i}"
                    started = timed([*cli, "run", "-d", "--name", name, "-p", f"{port}:80", "busybox", "httpd", "-f",
                                     "-p", "80", "-h", "/etc"], env)
                    deadline = time.monotonic() + 30
                    while not _get_200(port) and time.monotonic() < deadline:
                        time.sleep(0.002)
                    removed = timed([*cli, "rm", "-f", *(["-t", "0"] if engine == "podman" else []), name], env)
                    if i:
                        times[engine]["run -d -p"].append(started)
                        times[engine]["rm -f"].append(removed)
        finally:
            for engine, (cli, env) in engines.items():
                if env is not None:
                    teardown(env)
        for what in ("run -d -p", "rm -f"):
            ours = median([w for w, _ in times["dockyard"][what]])
            print(f"{what}:")
            for engine in engines:
                wall = median([w for w, _ in times[engine][what]])
                cpu = median([c for _, c in times[engine][what]])
                print(f"  {engine:<9} {wall:7.1f} ms  CPU {cpu:6.1f} ms   ratio dockyard/{engine} = {ours / wall:.2f}")


if __name__ == "__main__":
    main()
