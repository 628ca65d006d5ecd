"""Health probes at scale: N containers each probed every second (`--health-cmd true
--health-interval 1s`), for a window of W seconds: the CPU the probing costs and the memory of
the shims that run the probes. Docker's figures from the same run where dockerd answers.

CPU is counted by process, so other work on the machine does not blur it: dockyard's shims
(each reaps its probes, so their CPU is in the shim's children's time); for docker, dockerd,
containerd and the containerd shims (which reap the `runc exec` processes and the probes).
The same containers without probes give the baseline subtracted.

Usage: health_probes.py [N=50] [W=20]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, docker_available, teardown  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50
WINDOW = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
PROBE = ["--health-cmd", "true", "--health-interval", "1s"]


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of these processes and of their reaped children (utime, stime, cutime, cstime)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def window_cpu(pids) -> float:
    """Cores the processes `pids()` names used over the window (1.0 = one core fully busy)."""
    watched = pids()
    t0, c0 = time.monotonic(), cpu_seconds(watched)
    time.sleep(WINDOW)
    return (cpu_seconds(watched) - c0) / (time.monotonic() - t0)


def pss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def shim_pids(run_dir: Path) -> list[int]:
    return [int(p.read_text().split()[0]) for p in run_dir.glob("s/*/shim.pid")]


def dockyard_case(d: Path, probes: bool) -> tuple[float, int]:
    env = {**os.environ, "DOCKYARD_ROOT": str(d / "root"), "DOCKYARD_RUN_DIR": str(d / "run")}
    for i in range(N):
        subprocess.run([DOCKYARD, "run", "-d", "--network", "none", *(PROBE if probes else []), "busybox",
                        "sleep", "3600"], env=env, check=True, stdout=subprocess.DEVNULL)
    if probes:
        wait_healthy([DOCKYARD], env)
    cpu = window_cpu(lambda: shim_pids(d / "run"))
    mem = pss_kb(shim_pids(d / "run"))
    teardown(env)
    wait_for_hooks(d)
    return cpu, mem


def wait_for_hooks(d: Path) -> None:
    """The shims' exit hooks of the removed containers may still be at work on the root."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = False
        for proc in Path("/proc").iterdir():
            try:
                busy = busy or str(d) in (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.2)


def docker_case(probes: bool) -> tuple[float, int]:
    label = "dockyard-bench=health"
    for i in range(N):
        subprocess.run(["docker", "run", "-d", "--label", label, "--network", "none", *(PROBE if probes else []),
                        "busybox", "sleep", "3600"], check=True, stdout=subprocess.DEVNULL)
    if probes:
        wait_healthy(["docker"], dict(os.environ), label)
    cpu = window_cpu(lambda: sum(docker_processes(), []))
    mem = pss_kb(docker_processes()[1])
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], stdout=subprocess.DEVNULL)
    return cpu, mem


def docker_processes() -> tuple[list[int], list[int]]:
    """(dockerd and containerd, the containerd shims), found by executable."""
    found: dict[str, list[int]] = {"dockerd": [], "containerd": [], "shim": []}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            exe = os.path.basename(os.readlink(proc / "exe"))
        except OSError:
            continue
        if exe in ("dockerd", "containerd"):
            found[exe].append(int(proc.name))
        elif exe.startswith("containerd-shim"):
            found["shim"].append(int(proc.name))
    return found["dockerd"] + found["containerd"], found["shim"]


def wait_healthy(cli: list[str], env: dict, label: str = "") -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        args = [*cli, "ps", "-q", "--filter", "health=healthy"] + (["--filter", f"label={label}"] if label else [])
        if len(subprocess.run(args, env=env, capture_output=True, text=True).stdout.split()) == N:
            return
        time.sleep(0.5)
    raise SystemExit("the containers did not all become healthy")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dy-health-") as tmp:
        d = Path(tmp)
        (d / "root").mkdir()
        (d / "root" / "daemon.json").write_text(json.dumps({"bridge": "dyhb0", "nft-table": "dyhb",
                                                            "cgroup-parent": "/dyhb"}))
        env = {**os.environ, "DOCKYARD_ROOT": str(d / "root"), "DOCKYARD_RUN_DIR": str(d / "run")}
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        docker = docker_available()
        rows = {}
        for engine in (["dockyard", "docker"] if docker else ["dockyard"]):
            case = dockyard_case if engine == "dockyard" else (lambda _d, p: docker_case(p))
            idle_cpu, idle_mem = case(d, False)
            busy_cpu, busy_mem = case(d, True)
            rows[engine] = (busy_cpu - idle_cpu, busy_mem, idle_mem)
        print(f"{N} containers probed every second, {WINDOW:.0f} s window:")
        for engine, (cpu, mem, idle_mem) in rows.items():
            print(f"  {engine:<9} probing costs {cpu * 100:5.1f} % of one core; shims' PSS {mem / 1024:.1f} MB "
                  f"with probes ({idle_mem / 1024:.1f} MB without), {mem / N:.0f} kB per container")
        if "docker" in rows and rows["docker"][0] > 0:
            print(f"  ratio of CPU dockyard/docker = {rows['dockyard'][0] / rows['docker'][0]:.2f}")


if __name__ == "__main__":
    main()
