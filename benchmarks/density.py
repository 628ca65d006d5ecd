"""N containers running (issue #19's "1,000 containers"): each engine in turn starts N
detached `busybox sleep` containers, one after another, and

- times every start: the curve of the per-start median at 0, N/4, N/2, 3N/4 and N running
  (the WINDOW starts just before each point; the first WINDOW for 0);
- with all N running, times `ps`, `ps -a` and `inspect` (median of 5), the API list
  `GET /containers/json?all=1` and the API inspect `GET /containers/{id}/json` (requests per
  second from 16 connections, httpload.c: dockyard's `serve` and dockerd's socket; podman
  serves no API here), and `GET /_ping` beside them, for the load they were measured under;
- for dockyard, tells growth from load: STARTS more starts each with N running and in an empty
  root of its own, alternating, so both see the same load;
- takes the memory they hold: the host's used memory (MemTotal - MemAvailable, the page
  cache dropped) before and after, per container; of that, the kernel's part (slab, kernel
  stacks, page tables); and the per-container monitors' PSS and RSS (/proc/PID/smaps_rollup):
  our shim, containerd's shim, conmon, each found by the container ID on its command line
  or in its pid file, so other work on the host is not counted;
- prints that, then removes them with `rm -f` (timed; 25 names a command: dockerd 20.10
  deadlocked in an `rm -f` of 250), in a `finally`: a run that fails part-way leaves
  nothing (dockyard's root is reaped by pid when its engine cannot remove what it made:
  common.teardown).

Engines run in turn, not interleaved, so each one's memory is its own; the host is shared, so
the load average at each engine's start is printed beside its figures.
Usage (as root): density.py [N=1000] [NETWORKS=default,none] [ENGINES=dockyard,docker,podman]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_common import httpload, rate  # noqa: E402
from common import DOCKYARD, docker_available, env_for, median, podman_available, teardown, timed  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
NETWORKS = (sys.argv[2] if len(sys.argv) > 2 else "default,none").split(",")
ENGINES = (sys.argv[3] if len(sys.argv) > 3 else "dockyard,docker,podman").split(",")
WINDOW = max(1, min(25, N // 8))
API_CONNECTIONS, API_SECONDS = 16, 3.0
STARTS = 15
RM_BATCH = 25
KERNEL = ("Slab", "KernelStack", "PageTables")
engine_monitor = {"dockyard": "dockyard-shim", "docker": "containerd-shim", "podman": "conmon"}


@dataclass
class Engine:
    name: str
    cli: list[str]
    env: dict | None
    monitor: str  # what keeps each container: its process's name
    rm: list[str] = field(default_factory=lambda: ["rm", "-f"])

    def monitors(self, ids: list[str]) -> list[int]:
        """The pids of the monitors of containers `ids`."""
        if self.name == "dockyard":
            run_dir = Path(self.env["DOCKYARD_RUN_DIR"])
            pids = []
            for f in run_dir.glob("s/*/shim.pid"):
                try:
                    pids.append(int(f.read_text().split()[0]))
                except (OSError, ValueError):
                    pass
            return pids
        wanted, found = set(ids), []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and (proc / "comm").read_text().strip().startswith(self.monitor[:15]):
                    if wanted & set((proc / "cmdline").read_text().split("\0")):
                        found.append(int(proc.name))
            except OSError:
                pass
        return found


def meminfo() -> dict[str, int]:
    """/proc/meminfo in kB after dropping the page cache, dentries and inodes (files read meanwhile do not count)."""
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    time.sleep(1)  # RCU-freed objects of removed containers go back to the allocator
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {k: int(v.split()[0]) for k, v in fields.items()}


def used(m: dict[str, int]) -> int:
    return m["MemTotal"] - m["MemAvailable"]


def pss_rss(pids: list[int]) -> tuple[int, int]:
    """Total PSS and RSS of `pids`, in kB."""
    pss = rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return pss, rss


def curve(times: list[float]) -> list[tuple[int, float]]:
    """(containers running, median ms of the WINDOW starts around that count) at 0, N/4 .. N."""
    out = []
    for k in (0, N // 4, N // 2, 3 * N // 4, N):
        window = times[:WINDOW] if k == 0 else times[max(0, k - WINDOW):k]
        if window:
            out.append((k, median(window) * 1000))
    return out


def api_rates(engine: Engine, tmp: Path, load: str, cid: str) -> dict[str, float] | None:
    """Requests per second of the API list and of container `cid`'s inspect, polled as tools
    poll them: after a first answer."""
    paths = {"API list": "/containers/json?all=1", "API inspect": f"/containers/{cid}/json",
             "API ping": "/_ping"}  # what the server answers with no work: the host's load, not N

    def polled(sock: str) -> dict[str, float]:
        out = {}
        for what, path in paths.items():
            rate(load, sock, path, 1, 0.5)  # the first answer (the list built) is not what a poller sees
            out[what] = rate(load, sock, path, API_CONNECTIONS, API_SECONDS)
        return out
    if engine.name == "docker":
        return polled("/var/run/docker.sock")
    if engine.name != "dockyard":
        return None
    sock = tmp / "api.sock"
    server = subprocess.Popen([DOCKYARD, "serve", "-H", f"unix://{sock}"], env=engine.env, stdout=subprocess.PIPE,
                              text=True)
    try:
        if "API listening" not in server.stdout.readline():
            raise SystemExit("dockyard serve did not start")
        return polled(str(sock))
    finally:
        server.terminate()
        server.wait(60)


def measure(engine: Engine, network: str, tmp: Path, load: str, ours: dict | None) -> dict:
    """Start N containers of `engine` on `network`, measure and print (before the removal, which
    may hang), remove them whatever happens. `ours`: dockyard's figures, for the ratios."""
    prefix = f"dens{os.getpid()}-"
    net = [] if network == "default" else ["--network", network]
    ids: list[str] = []
    times: list[float] = []
    out: dict = {"load": os.getloadavg()[0]}
    m0 = meminfo()
    try:
        for i in range(N):
            t0 = time.perf_counter()
            p = subprocess.run([*engine.cli, "run", "-d", *net, "--name", f"{prefix}{i}", "busybox", "sleep", "86400"],
                               env=engine.env, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if p.returncode:
                raise SystemExit(f"{engine.name}: start {i + 1} of {N} failed: {p.stderr.strip()[-300:]}")
            ids.append(p.stdout.strip())
        out["curve"] = curve(times)
        time.sleep(2)  # the last shims settle (a shim's start-up allocations are not its idle size)
        m1 = meminfo()
        out["used_kb"] = (used(m1) - used(m0)) / N
        out["kernel_kb"] = {k: (m1[k] - m0[k]) / N for k in KERNEL}
        monitors = engine.monitors(ids)
        pss, rss = pss_rss(monitors)
        out.update(monitors=len(monitors), pss_kb=pss / max(len(monitors), 1), rss_kb=rss / max(len(monitors), 1))
        middle = f"{prefix}{N // 2}"
        for what, args in (("ps", ["ps"]), ("ps -a", ["ps", "-a"]), ("inspect", ["inspect", middle])):
            out[what] = median([timed([*engine.cli, *args], env=engine.env) for _ in range(5)]) * 1000
        out.update(api_rates(engine, tmp, load, ids[N // 2]) or {})
        if engine.name == "dockyard":
            out["growth"] = start_growth(engine, tmp, net)
        report(engine.name, out, ours)
    finally:
        names = [f"{prefix}{i}" for i in range(len(times))]
        t0 = time.perf_counter()
        for chunk in range(0, len(names), RM_BATCH):
            subprocess.run([*engine.cli, *engine.rm, *names[chunk:chunk + RM_BATCH]], env=engine.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"    rm -f of all {len(names)}: {time.perf_counter() - t0:.1f} s", flush=True)
        if engine.name == "dockyard":
            teardown(engine.env)  # and whatever the engine could not remove, by pid
    return out


def start_growth(engine: Engine, tmp: Path, net: list[str]) -> tuple[float, float]:
    """Median ms of a `run -d` with N running and in an empty root, STARTS each, alternating
    (so load hits both alike); the extra containers are removed."""
    empty = env_for(tmp / "empty")
    subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=empty, check=True, stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {"full": [], "empty": []}
    try:
        for i in range(STARTS):
            for which, env in (("full", engine.env), ("empty", empty)):
                times[which].append(timed([DOCKYARD, "run", "-d", *net, "--name", f"growth{i}", "busybox", "sleep",
                                           "86400"], env=env))
    finally:
        for env in (engine.env, empty):
            subprocess.run([DOCKYARD, "rm", "-f", *(f"growth{i}" for i in range(STARTS))], env=env,
                           capture_output=True)
        teardown(empty)
    return median(times["full"]) * 1000, median(times["empty"]) * 1000


def report(engine: str, r: dict, ours: dict | None) -> None:
    """One engine's figures, with dockyard's ratio to them (`ours`) where dockyard ran first."""
    def ratio(engine: str, key, value: float) -> str:
        if not ours or engine == "dockyard" or not value:
            return ""
        mine = dict(ours["curve"]).get(key) if isinstance(key, int) else ours.get(key)
        return f" (dockyard/{engine} {mine / value:.2f})" if mine else ""

    print(f"  {engine} (load {r['load']:.1f} at its start):", flush=True)
    print("    per start at " + ", ".join(f"{k}: {ms:.0f} ms{ratio(engine, k, ms)}" for k, ms in r["curve"]))
    if "growth" in r:
        print(f"    run -d with {N} running vs in an empty root, alternating ({STARTS} each): "
              f"{r['growth'][0]:.0f} vs {r['growth'][1]:.0f} ms")
    print(f"    with {N} running: " + ", ".join(f"{what} {r[what]:.0f} ms{ratio(engine, what, r[what])}"
                                               for what in ("ps", "ps -a", "inspect")) +
          "".join(f", {what} {r[what]:.0f} req/s{ratio(engine, what, r[what])}"
                  for what in ("API list", "API inspect", "API ping") if what in r))
    kernel = sum(r["kernel_kb"].values())
    print(f"    memory per container: {r['used_kb'] / 1024:.2f} MB of the host's used memory, of which kernel"
          f" {kernel / 1024:.2f} MB (" + ", ".join(f"{k} {v:.0f} kB" for k, v in r["kernel_kb"].items()) +
          f"); {engine_monitor[engine]} PSS {r['pss_kb'] / 1024:.2f} MB, RSS {r['rss_kb'] / 1024:.2f} MB"
          f" ({r['monitors']} found)", flush=True)


def main() -> None:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dyb-dens-", dir="/tmp")))
        env = env_for(tmp)
        stack.callback(teardown, env)  # before the directory goes, whatever failed
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        engines = {"dockyard": Engine("dockyard", [DOCKYARD], env, engine_monitor["dockyard"])}
        if "docker" in ENGINES and docker_available():
            engines["docker"] = Engine("docker", ["docker"], None, engine_monitor["docker"])
        if "podman" in ENGINES and podman_available():
            engines["podman"] = Engine("podman", ["podman"], None, engine_monitor["podman"], ["rm", "-f", "-t", "0"])
        engines = {k: v for k, v in engines.items() if k in ENGINES}
        load = httpload(tmp)
        for network in NETWORKS:
            print(f"\n{N} × `run -d busybox sleep` ({'default bridge' if network == 'default' else '--network ' + network}),"
                  " engines in turn:", flush=True)
            results: dict[str, dict] = {}
            for name, engine in engines.items():
                results[name] = measure(engine, network, tmp, load, results.get("dockyard"))


if __name__ == "__main__":
    main()
