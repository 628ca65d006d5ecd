"""Fairness between roots: start latency of `dockyard run --rm busybox true` on root A, with the
host otherwise idle, then while roots B and C each have a `dockyard serve` with CLIENTS API
clients looping over container list/create/start/inspect/remove.

Busy roots use CPU, and on 2 cores that alone slows anything else on the host: that is not
unfairness. So the busy round runs twice: with B and C paced at PACE loops per second each
(busy engines, but the CPUs keep room to spare: what remains is serialization between roots),
then flat out (the raw figure, CPU contention included). For each round it prints the
median and p90 of the latency; the CPU the busy engines used and how busy the whole host was;
where the run's time went, from separate runs under `perf sched record` (the run's processes
and threads: CPU time, time runnable but waiting for a CPU, and the rest: sleeping on locks,
I/O, the kernel, timers); and the time it waited on locks, from separate runs under `strace
--seccomp-bpf` (flock(2) on the root, network, lifecycle and host registry locks, and SQLite's
busy waits, which sleep on CLOCK_REALTIME).

Where Docker runs and has busybox, `docker run --rm busybox true` is timed in turn with each
run: the same kernel work (a network namespace, a veth pair, mounts) queues behind the busy
roots' the same way, whichever engine asks.

On a host shared with other work (cgroup v1 here), everything the benchmark starts runs in a
cpu cgroup of the highest weight, so that other work disturbs the comparison less; the
containers themselves run in their roots' own cgroups as always, and dockerd in its own place
(so with B and C flat out it gets less of the CPUs than they do).

Run by hand as root: `.venv/bin/python benchmarks/run_under_load.py [RUNS]`.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from api_common import CpuGroup, dockyard_server  # noqa: E402
from common import DOCKYARD, docker_available, median, timed  # noqa: E402
from tests.helpers.apiload import api_load  # noqa: E402

CLIENTS = 50
WARMUP = 3.0  # seconds of load before the first timed run
DEADLINE = 1800.0  # the API clients stop by then whatever happens
PACE = 2.0  # loops per second of each busy root in the paced round
RUN = [DOCKYARD, "run", "--rm", "busybox", "true"]
# a blocking flock, or SQLite's busy handler sleeping (usleep: CLOCK_REALTIME, where Python's
# own sleeps use CLOCK_MONOTONIC)
_WAIT = re.compile(r"flock\(\d+, LOCK_(?:EX|SH)[) ]|clock_nanosleep\(CLOCK_REALTIME, 0,")
_TOOK = re.compile(r"<([\d.]+)>$")
_FORK = re.compile(r"sched_process_fork: comm=.* pid=(\d+) child_comm=.* child_pid=(\d+)")
_SLICE = re.compile(r"^\s*([\d.]+) \[\d+\]\s+(.*)\[(\d+)(?:/\d+)?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10, method="inclusive")[-1] if len(xs) > 1 else xs[0]


def host_busy() -> float:
    """CPU seconds the whole host has used so far (all CPUs, all processes)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed_run(env: dict) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(RUN, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"run failed: {p.stderr.decode(errors='replace').strip()[-500:]}")
    return wall


def lock_waits(env: dict, runs: int) -> list[float]:
    """Seconds each traced run spent waiting on locks."""
    out = []
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "trace")
        for _ in range(runs):
            subprocess.run(["strace", "-f", "--seccomp-bpf", "-T", "-e", "trace=flock,clock_nanosleep", "-o", log,
                            *RUN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            with open(log) as f:
                out.append(_waited(f))
    return out


def scheduling(env: dict, runs: int) -> list[tuple[float, float, float]]:
    """(span, running, only waiting for a CPU) seconds of runs recorded by `perf sched`: all the
    run's processes and threads (the CLI, its children, the shim, the container)."""
    out = []
    with tempfile.TemporaryDirectory() as d:
        data, pidfile = os.path.join(d, "perf.data"), os.path.join(d, "pid")
        for _ in range(runs):
            subprocess.run(["perf", "sched", "record", "-o", data, "--", "sh", "-c", 'echo $$ > "$0"; exec "$@"',
                            pidfile, *RUN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            forks = subprocess.run(["perf", "script", "-i", data, "-F", "event,trace"], capture_output=True,
                                   text=True).stdout
            slices = subprocess.run(["perf", "sched", "timehist", "-i", data], capture_output=True, text=True).stdout
            with open(pidfile) as f:
                out.append(_tree_times(f.read().strip(), forks, slices))
    return out


def _tree_times(root: str, forks: str, slices: str) -> tuple[float, float, float]:
    """(span, running, only waiting for a CPU) seconds of the tree of tasks of `root`: from its
    first task's first wake-up to its last task's last run, the time at least one of them
    ran, and the time none ran but at least one was runnable. The rest of the span, all of
    them slept: on locks, I/O, the kernel, timers."""
    children: dict[str, list[str]] = {}
    for m in _FORK.finditer(forks):
        children.setdefault(m.group(1), []).append(m.group(2))
    tree, todo = set(), [root]
    while todo:
        tid = todo.pop()
        tree.add(tid)
        todo += children.get(tid, [])
    running, ready = [], []
    for line in slices.splitlines():
        if (m := _SLICE.match(line)) and m.group(3) in tree:
            end, sch, run = float(m.group(1)), float(m.group(5)) / 1000, float(m.group(6)) / 1000
            running.append((end - run, end))
            ready.append((end - run - sch, end))
    span = max(e for _, e in ready) - min(b for b, _ in ready)
    ran = _covered(running)
    return span, ran, _covered(ready) - ran


def _covered(intervals: list[tuple[float, float]]) -> float:
    """How long the union of the intervals lasts."""
    total, reach = 0.0, float("-inf")
    for b, e in sorted(intervals):
        if e > reach:
            total += e - max(b, reach)
            reach = e
    return total


def _waited(trace) -> float:
    """Seconds of the waits in an `strace -f -T` log, whose calls may be split in an
    "<unfinished ...>" line and a "<... resumed>" one."""
    total, pending = 0.0, set()
    for line in trace:
        pid, _, call = line.strip().partition(" ")
        call = call.lstrip()
        if call.startswith("<..."):
            if pid not in pending:
                continue
            pending.discard(pid)
        elif not _WAIT.match(call):
            continue
        elif call.endswith("<unfinished ...>"):
            pending.add(pid)
            continue
        if m := _TOOK.search(call):
            total += float(m.group(1))
    return total


def measure(title: str, env: dict, runs: int, busy: list[CpuGroup | None], docker: bool) -> tuple[float, float]:
    """Prints a round's figures; returns the medians of dockyard's and Docker's (nan without it)."""
    engines0, host0, t0 = sum(c.seconds() for c in busy if c), host_busy(), time.perf_counter()
    walls, theirs = [], []
    for _ in range(runs):  # alternating, so drift on the host hits both alike
        walls.append(timed_run(env))
        if docker:
            theirs.append(timed(["docker", *RUN[1:]]))
    elapsed = time.perf_counter() - t0
    engines = (sum(c.seconds() for c in busy if c) - engines0) / elapsed
    host = (host_busy() - host0) / elapsed
    print(f"  {title}")
    print(f"    latency  median {median(walls):.3f} s  p90 {p90(walls):.3f} s  [{min(walls):.3f}–{max(walls):.3f}] "
          f"(n={runs}); busy engines used {engines:.2f} CPUs, the whole host {host:.2f} of {os.cpu_count()}")
    if theirs:
        print(f"    Docker's `docker run --rm busybox true` meanwhile: median {median(theirs):.3f} s  "
              f"p90 {p90(theirs):.3f} s")
    traced = max(3, runs // 2)
    if shutil.which("perf"):
        spans, ran, queued = zip(*scheduling(env, traced))
        slept = [w - c - q for w, c, q in zip(spans, ran, queued)]
        print(f"    under perf sched (n={traced}, medians of ms): some task of the run on a CPU {median(ran) * 1000:.0f}, "
              f"only waiting for one {median(queued) * 1000:.0f}, all asleep {median(slept) * 1000:.0f}, "
              f"in all {median(spans) * 1000:.0f}")
    if shutil.which("strace"):
        waits = lock_waits(env, traced)
        print(f"    lock waits per run under strace (n={traced}): median {median(waits) * 1000:.1f} ms, "
              f"p90 {p90(waits) * 1000:.1f} ms")
    sys.stdout.flush()
    return median(walls), median(theirs) if theirs else float("nan")


def weighted() -> Path | None:
    """Move this process (and so all it starts) to a cpu cgroup (v1) of the highest weight."""
    if not os.path.isdir("/sys/fs/cgroup/cpu"):
        return None
    group = Path(f"/sys/fs/cgroup/cpu/dockyard-bench-weight-{os.getpid()}")
    group.mkdir()
    (group / "cpu.shares").write_text("262144")
    (group / "cgroup.procs").write_text(str(os.getpid()))
    return group


def unweighted(group: Path) -> None:
    for pid in (group / "cgroup.procs").read_text().split():  # this process, and shims outliving the teardown
        Path("/sys/fs/cgroup/cpu/cgroup.procs").write_text(pid)
    group.rmdir()


def main(runs: int = 10) -> None:
    v1 = os.path.isdir("/sys/fs/cgroup/cpuacct")
    with ExitStack() as stack:
        group = weighted()
        if group:
            stack.callback(unweighted, group)
        cpus = [CpuGroup(f"-{i}") if v1 else None for i in range(3)]
        for cpu in cpus:
            if cpu:
                stack.callback(cpu.remove)
        servers = [stack.enter_context(dockyard_server(cpu)) for cpu in cpus]
        (_, env), busy = servers[0], servers[1:]
        timed_run(env)  # the first start on a root makes its bridge
        print(f"`run --rm busybox true` on root A, {runs} runs per round:", flush=True)
        docker = docker_available() and subprocess.run(["docker", "image", "inspect", "busybox"],
                                                        capture_output=True).returncode == 0
        idle = measure("idle host (B and C up, no clients)", env, runs, cpus[1:], docker)
        for pace, title in ((PACE, f"B and C busy, {CLIENTS} API clients each, paced at {PACE:g} loops/s each"),
                            (0, f"B and C busy, {CLIENTS} API clients each, flat out")):
            with ExitStack() as load:
                loads = [load.enter_context(api_load(f"unix://{sock}", CLIENTS, DEADLINE, rate=pace))
                         for sock, _ in busy]
                time.sleep(WARMUP)
                before = sum(x.total for x in loads)
                t0 = time.perf_counter()
                m = measure(title, env, runs, cpus[1:], docker)
                done, elapsed = sum(x.total for x in loads) - before, time.perf_counter() - t0
            errors = [e for x in loads for e in x.errors]
            if errors:
                raise SystemExit(f"API clients failed: {errors[:3]}")
            print(f"    B and C: {done / elapsed:.1f} create/start/remove loops/s; busy / idle: dockyard "
                  f"{m[0] / idle[0]:.2f}x" + (f", Docker {m[1] / idle[1]:.2f}x" if docker else ""), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
