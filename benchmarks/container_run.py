"""Issue 3 benchmarks: `run --rm busybox true` latency, and 50 detached `sleep` containers
(start time, memory per container: shim RSS/PSS).

Prints medians over repeated runs for dockyard and, where installed on this machine, podman,
docker and a bare `crun run` of a prepared bundle (the floor), with ratios from the same run.
Usage: container_run.py [RUNS=20] [DENSITY_N=50]
(the baseline on this kind of machine: Docker 203 ms / Podman 140 ms per detached start;
Docker's shim 13.2/2.7 MB, podman's conmon 2.1/0.4 MB RSS/PSS)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, docker_available, fmt, podman_available, report, teardown, timed  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50


def dockyard_env(d: Path) -> dict:
    (d / "root").mkdir(parents=True, exist_ok=True)
    (d / "root" / "daemon.json").write_text(json.dumps({"bridge": "dybench0", "nft-table": "dybench",
                                                        "cgroup-parent": "/dybench"}))
    return {**os.environ, "DOCKYARD_ROOT": str(d / "root"), "DOCKYARD_RUN_DIR": str(d / "run")}


def crun_bundle(d: Path, env: dict) -> Path | None:
    """The busybox rootfs as an OCI bundle with `runc spec`'s config running `true`."""
    if not shutil.which("crun") or not shutil.which("runc"):
        return None
    b = d / "bundle"
    (b / "rootfs").mkdir(parents=True)
    data = subprocess.run([DOCKYARD, "export", "-o", str(d / "fs.tar"),
                           subprocess.run([DOCKYARD, "create", "--network", "none", "busybox", "true"], env=env,
                                          capture_output=True, text=True, check=True).stdout.strip()],
                          env=env, capture_output=True)
    if data.returncode:
        return None
    subprocess.run(["tar", "-C", str(b / "rootfs"), "-xf", str(d / "fs.tar")], check=True)
    subprocess.run(["runc", "spec"], cwd=b, check=True)
    spec = json.loads((b / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    (b / "config.json").write_text(json.dumps(spec))
    return b


def pss_rss(pids: list[int]) -> tuple[int, int]:
    rss = pss = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def shim_pids(run_dir: Path) -> list[int]:
    out = []
    for f in (run_dir / "s").glob("*/shim.pid"):
        try:
            out.append(int(f.read_text().split()[0]))
        except (OSError, ValueError):
            pass
    return out


def pids_named(comm: str) -> set[int]:
    """Processes whose command name starts with `comm` (the kernel keeps 15 characters)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip().startswith(comm[:15]):
                found.add(int(proc.name))
        except OSError:
            pass
    return found


def density(engines: dict[str, tuple[list[str], dict | None, str]], run_dir: Path) -> dict[str, dict]:
    """Start N detached `sleep` containers per engine, alternating engines container by
    container (drift hits all alike); time the starts, and the memory of the per-container
    monitors (our shim, conmon, containerd's shim) they add. engines: name -> (cli, env, monitor)."""
    names = [f"dens{os.getpid()}-{i}" for i in range(N)]
    before = {e: pids_named(monitor) for e, (_, _, monitor) in engines.items()}
    took = dict.fromkeys(engines, 0.0)
    subprocess.run(["sync"])
    for name in names:
        for engine, (cli, env, _) in engines.items():
            t0 = time.perf_counter()
            subprocess.run([*cli, "run", "-d", "--name", name, "busybox", "sleep", "3600"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            took[engine] += time.perf_counter() - t0
    time.sleep(2)
    out = {}
    for engine, (cli, env, monitor) in engines.items():
        pids = shim_pids(run_dir) if engine == "dockyard" else sorted(pids_named(monitor) - before[engine])
        rss, pss = pss_rss(pids)
        t1 = time.perf_counter()
        rm = [*cli, "rm", "-f", *(["-t", "0"] if cli == ["podman"] else []), *names]  # podman waits 10 s for SIGTERM
        subprocess.run(rm, env=env, check=True, stdout=subprocess.DEVNULL)
        out[engine] = {"start_s": took[engine], "per_start_ms": took[engine] / N * 1000, "rm_s": time.perf_counter() - t1,
                       "monitors": len(pids), "rss_kb": rss / max(len(pids), 1), "pss_kb": pss / max(len(pids), 1)}
    return out


def print_density(engine: str, monitor: str, d: dict, ours: dict | None) -> None:
    ratio = f"   ratio dockyard/{engine} = {ours['per_start_ms'] / d['per_start_ms']:.2f}" if ours else ""
    print(f"  {engine:<9} {d['per_start_ms']:.0f} ms per start (all {d['start_s']:.2f} s, rm -f all {d['rm_s']:.2f} s);"
          f" {monitor} per container: RSS {d['rss_kb'] / 1024:.2f} MB, PSS {d['pss_kb'] / 1024:.2f} MB"
          f" ({d['monitors']} found){ratio}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dyb-", dir="/tmp") as tmp:
        d = Path(tmp)
        env = dockyard_env(d)
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        bundle = crun_bundle(d, env)
        subprocess.run([DOCKYARD, "container", "prune", "-f"], env=env, stdout=subprocess.DEVNULL)
        ours, ours_none, pod, dock, crun = [], [], [], [], []
        have_podman, have_docker = podman_available(), docker_available()
        for i in range(RUNS + 1):
            a = timed([DOCKYARD, "run", "--rm", "busybox", "true"], env=env)
            b = timed([DOCKYARD, "run", "--rm", "--network", "none", "busybox", "true"], env=env)
            p = timed(["podman", "run", "--rm", "busybox", "true"]) if have_podman else None
            k = timed(["docker", "run", "--rm", "busybox", "true"]) if have_docker else None
            c = timed(["crun", "run", "--bundle", str(bundle), f"dyb{os.getpid()}{i}"]) if bundle else None
            if i == 0:
                continue  # warm-up
            ours.append(a)
            ours_none.append(b)
            for xs, v in ((pod, p), (dock, k), (crun, c)):
                if v is not None:
                    xs.append(v)
        report("run --rm busybox true (default bridge network)", ours, {"podman": pod, "docker": dock, "crun": crun})
        print(f"  dockyard --network none: {fmt(ours_none)}")
        print(f"\n{N} detached sleep containers (default network, as the baseline), one after another:")
        engines = {"dockyard": ([DOCKYARD], env, "dockyard-shim")}
        if have_podman:
            engines["podman"] = (["podman"], None, "conmon")
        if have_docker:
            engines["docker"] = (["docker"], None, "containerd-shim")
        dens = density(engines, d / "run")
        for engine, (_, _, monitor) in engines.items():
            print_density(engine, monitor, dens[engine], dens["dockyard"] if engine != "dockyard" else None)
        teardown(env)


if __name__ == "__main__":
    main()
