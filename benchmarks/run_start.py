"""`run --rm busybox true` and `run -d busybox sleep`, the engines in turn round by round:
dockyard, Podman, Docker and, with DOCKYARD_BASE=/path/to/another/dockyard launcher (say a
checkout of an earlier commit), that one too, on a root of its own. Prints each engine's median wall time, the CPU
of the command's own process tree (a daemon's CPU is not in it) and the ratios.

Usage: run_start.py [ROUNDS=12] [MODES=rm,d]
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
from container_run import dockyard_env  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 12
MODES = (sys.argv[2] if len(sys.argv) > 2 else "rm,d").split(",")


def measure(engines: dict[str, tuple[list[str], dict | None]], mode: str) -> None:
    wall: dict[str, list[float]] = {e: [] for e in engines}
    cpu: dict[str, list[float]] = {e: [] for e in engines}
    made: dict[str, list[str]] = {e: [] for e in engines}
    try:
        for i in range(ROUNDS + 1):  # the first round warms up
            for engine, (cli, env) in engines.items():
                name = f"rs{engine}{os.getpid()}-{i}"
                args = ["run", "--rm", "busybox", "true"] if mode == "rm" else \
                    ["run", "-d", "--name", name, "busybox", "sleep", "3600"]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run([*cli, *args], env=env, check=True, stdout=subprocess.DEVNULL)
                took = time.perf_counter() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if mode != "rm":
                    made[engine].append(name)
                if i:
                    wall[engine].append(took * 1000)
                    cpu[engine].append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    finally:
        for engine, (cli, env) in engines.items():
            if made[engine]:
                subprocess.run([*cli, "rm", "-f", *(["-t", "0"] if engine == "podman" else []), *made[engine]],
                               env=env, stdout=subprocess.DEVNULL)
    ours = median(wall["dockyard"])
    print("run --rm busybox true:" if mode == "rm" else "run -d busybox sleep 3600, per start:")
    for engine in engines:
        print(f"  {engine:<9} {median(wall[engine]):7.1f} ms [{min(wall[engine]):.0f}-{max(wall[engine]):.0f}]"
              f"  CPU {median(cpu[engine]):6.1f} ms   ratio dockyard/{engine} = {ours / median(wall[engine]):.2f}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dyb-", dir="/tmp") as tmp:
        env = dockyard_env(Path(tmp))
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        engines: dict[str, tuple[list[str], dict | None]] = {"dockyard": ([DOCKYARD], env)}
        base_env = None
        if os.environ.get("DOCKYARD_BASE"):  # a root of its own: the two never share a bridge or firewall record
            base_env = dockyard_env(Path(tmp) / "base", "b")
            subprocess.run([os.environ["DOCKYARD_BASE"], "image", "bootstrap", "busybox"], env=base_env, check=True,
                           stdout=subprocess.DEVNULL)
            engines["base"] = ([os.environ["DOCKYARD_BASE"]], base_env)
        if podman_available():
            engines["podman"] = (["podman"], None)
        if docker_available():
            engines["docker"] = (["docker"], None)
        print(f"load average at the start: {os.getloadavg()[0]:.1f}")
        try:
            for mode in MODES:
                measure(engines, mode)
        finally:
            teardown(env)
            if base_env:
                teardown(base_env)


if __name__ == "__main__":
    main()
