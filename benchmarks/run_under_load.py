"""Start latency of `dockyard run --rm busybox true` while API servers are busy: one root whose
`dockyard serve` has CLIENTS API clients looping over container list/inspect/create/start/remove,
then three such roots busy at once (the CLI runs on the first). Prints both medians and how
far apart they are, plus the idle figure for reference.

Twice: with each busy root paced at PACE loops per second (a busy but realistic engine: the
host keeps spare CPU, so the question is whether roots get in each other's way), then flat
out, where three roots saturate the CPUs and any engine slows by what it shares them with.

Run by hand as root: `.venv/bin/python benchmarks/run_under_load.py [RUNS]`.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from api_common import CpuGroup, dockyard_server  # noqa: E402
from common import DOCKYARD, fmt, median, timed  # noqa: E402
from tests.helpers.apiload import api_load  # noqa: E402

CLIENTS = 50
WARMUP = 3.0  # seconds of load before the first timed run
DEADLINE = 900.0  # the API clients stop by then whatever happens
PACE = 2.0  # loops per second of each busy root in the paced round


def cli_runs(env: dict, runs: int) -> list[float]:
    return [timed([DOCKYARD, "run", "--rm", "busybox", "true"], env=env) for _ in range(runs)]


def main(runs: int = 10) -> None:
    with ExitStack() as stack:
        cpus = [CpuGroup(f"-{i}") if os.path.isdir("/sys/fs/cgroup/cpuacct") else None for i in range(3)]
        for cpu in cpus:
            if cpu:
                stack.callback(cpu.remove)
        servers = [stack.enter_context(dockyard_server(cpu)) for cpu in cpus]
        _, env = servers[0]
        idle = cli_runs(env, runs)
        print("`run --rm busybox true`:")
        print(f"  idle                  {fmt(idle)}")
        for pace, title in ((PACE, f"each busy root paced at {PACE:g} loops/s"), (0, "busy roots flat out")):
            busy(servers, cpus, env, runs, pace, title)


def busy(servers: list, cpus: list, env: dict, runs: int, pace: float, title: str) -> None:
    results = {}
    for n in (1, 3):
        with ExitStack() as load:
            loads = [load.enter_context(api_load(f"unix://{sock}", CLIENTS, DEADLINE, rate=pace))
                     for sock, _ in servers[:n]]
            time.sleep(WARMUP)
            t0, loops0 = time.perf_counter(), sum(x.total for x in loads)
            cpu0 = sum(c.seconds() for c in cpus[:n] if c)
            results[n] = cli_runs(env, runs)
            elapsed = time.perf_counter() - t0
            done = sum(x.total for x in loads) - loops0
            used = sum(c.seconds() for c in cpus[:n] if c) - cpu0  # the servers, their shims and hooks
        errors = [e for x in loads for e in x.errors]
        if errors:
            raise SystemExit(f"API clients failed: {errors[:3]}")
        print(f"  {n} root(s) busy: {done} API create/start/remove loops in {elapsed:.1f} s; the engines used "
              f"{used / elapsed:.2f} of the {os.cpu_count()} CPUs ({used / max(done, 1) * 1000:.0f} ms per loop)",
              flush=True)
    print(f"  {title}:")
    for n, xs in results.items():
        print(f"    {n} root(s) busy ({CLIENTS} API clients each) {fmt(xs)}")
    print(f"    three roots / one root: {median(results[3]) / median(results[1]):.2f}x", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
