"""Shared helpers for the benchmarks: timing, medians, page-cache drops, the comparison engines.

Benchmarks are scripts run by hand (`make bench` or `.venv/bin/python benchmarks/NAME.py`); they
print medians over repeated runs and, where Docker or Podman is installed, their figures from
the same run with the ratio, alternating engines run by run so drift hits all alike.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from dockyard.network.owners import Registry, tag
from dockyard.runtime.shim.records import process_start_time
from dockyard.store.identity import read_root_id

HERE = Path(__file__).resolve().parent
DOCKYARD = str(Path(sys.executable).parent / "dockyard")
BENCH_DEBIAN = "dockyard-bench/debian:bookworm"
BENCH_DIR = Path(os.environ.get("DOCKYARD_BENCH_DIR", "/var/tmp/dockyard-bench"))


def drop_caches() -> None:
    """File-heavy timings drift upward on this VM unless the page cache is dropped first."""
    subprocess.run(["sync"], check=True)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        pass


def timed(cmd: list[str], *, env: dict | None = None, check: bool = True, stdin=None) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=stdin)
    dt = time.perf_counter() - t0
    if check and p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace').strip()[-500:]}")
    return dt


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt(xs: list[float]) -> str:
    return f"{median(xs):.3f} s [{min(xs):.3f}–{max(xs):.3f}] (n={len(xs)})"


def docker_available() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def podman_available() -> bool:
    return shutil.which("podman") is not None and subprocess.run(
        ["podman", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def report(name: str, ours: list[float], others: dict[str, list[float]], unit: str = "s") -> None:
    print(f"{name}:")
    print(f"  dockyard  {fmt(ours)}")
    for engine, xs in others.items():
        if xs:
            print(f"  {engine:<9} {fmt(xs)}   ratio dockyard/{engine} = {median(ours) / median(xs):.2f}")


def report_against(title: str, times: dict[str, list[float]], ours: str) -> None:
    """Each engine's figures under `title`, with the ratio of `ours` to each of the others."""
    print(title)
    for name, xs in times.items():
        if not xs:
            print(f"  {name:<18} fails on this host")
            continue
        ratio = "" if name == ours or not times[ours] else \
            f"   ratio {ours.replace('dockyard ', '')} dockyard/{name} = {median(times[ours]) / median(xs):.2f}"
        print(f"  {name:<18} {fmt(xs)}{ratio}")


def env_for(root: Path) -> dict:
    return {**os.environ, "DOCKYARD_ROOT": str(root / "root"), "DOCKYARD_RUN_DIR": str(root / "run")}


def debian_archive() -> Path:
    """A docker-archive of a debootstrapped Debian (bootstrapped once, kept in BENCH_DIR)."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    tar = BENCH_DIR / "debian.tar"
    if tar.exists():
        return tar
    env = env_for(BENCH_DIR / "debian")
    if subprocess.run([DOCKYARD, "image", "inspect", "debian:bookworm"], env=env, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode:
        print("bootstrapping debian:bookworm once (needs the Debian mirror) ...", flush=True)
        subprocess.run([DOCKYARD, "image", "bootstrap", "debian:bookworm"], env=env, check=True)
    # a name of our own, so loading it into docker or podman never replaces their debian:bookworm
    subprocess.run([DOCKYARD, "tag", "debian:bookworm", BENCH_DEBIAN], env=env, check=True)
    subprocess.run([DOCKYARD, "save", "-o", str(tar), BENCH_DEBIAN], env=env, check=True)
    return tar


def teardown(env: dict) -> None:
    """Remove a benchmark root's containers and take down its default bridge, which outlives
    its containers as docker0 does: a benchmark leaves nothing in the kernel, even when it
    failed part-way and the engine cannot remove what it made (then `reap` does, by pid)."""
    ids = subprocess.run([DOCKYARD, "ps", "-aq", "--no-trunc"], env=env, capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run([DOCKYARD, "rm", "-f", *ids], env=env, capture_output=True)
    subprocess.run([DOCKYARD, "network", "prune", "-f"], env=env, capture_output=True)
    reap(Path(env["DOCKYARD_ROOT"]), Path(env["DOCKYARD_RUN_DIR"]))


def reap(root: Path, run_dir: Path) -> list[int]:
    """What a root's engine left behind, taken down without it: the shims whose pid files lie
    in `run_dir` and every process under them (SIGKILL, by pid: their start times are checked
    against the pid files, so a recycled pid is never hit), then the mounts under the root and
    run dir, the links tagged with the root's identity, its nft table, cgroups and registry
    entry. Returns the shims' pids it killed (none after a clean `rm -f`)."""
    killed = []
    for pidfile in run_dir.glob("s/*/shim.pid"):
        try:
            pid, started = (int(v) for v in pidfile.read_text().split())
            if process_start_time(pid) != started:
                continue  # gone, or the pid went to another process
        except (OSError, ValueError):
            continue
        # the shim first: killed after its container's init, it could see that exit and start
        # its exit hook (an engine process that would register the root again) before dying
        for p in [pid, *_descendants(pid)]:
            try:
                os.kill(p, 9)
            except ProcessLookupError:
                pass
        killed.append(pid)
    for pid in killed:
        while process_start_time(pid) is not None:  # None once it is a zombie or gone
            time.sleep(0.01)
    prefixes = tuple(f"{d.resolve()}/" for d in (root, run_dir) if d.exists())
    if prefixes:
        points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for point in sorted((m for m in points if m.startswith(prefixes)), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
    owner = read_root_id(root)
    if owner:
        for link in Path("/sys/class/net").iterdir():
            if _read(link / "ifalias").startswith(tag(owner)):
                subprocess.run(["ip", "link", "del", link.name], capture_output=True)
        try:
            settled = json.loads(_read(root / "network.json") or "{}")
            asked = json.loads(_read(root / "daemon.json") or "{}")
        except ValueError:
            settled, asked = {}, {}
        if settled.get("nft-table"):
            subprocess.run(["nft", "delete", "table", "inet", settled["nft-table"]], capture_output=True)
        parent = (asked.get("cgroup-parent") or f"dockyard-{owner}").strip("/")
        for group in Path("/sys/fs/cgroup").glob(f"*/{parent}"):
            for child in [*(c for c in group.iterdir() if c.is_dir()), group]:
                try:
                    child.rmdir()  # the containers' groups, then their parent: empty once their processes died
                except OSError:
                    pass
        Registry().forget(owner)
    return killed


def _descendants(pid: int) -> list[int]:
    """Every process under `pid`, children before their own children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            kids = [int(k) for k in _read(task).split()]
            out.extend(kids)
            todo.extend(kids)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def reset_rootless_podman(user) -> None:
    """Remove what rootless podman kept for a throwaway `user` (tests/integration/rootless):
    its storage, its pause process (started for it by podman, ended by its pid file) and lock file."""
    subprocess.run(user.argv("podman", "system", "reset", "--force"), env=user.env(), cwd=user.home,
                   capture_output=True)
    pause = user.runtime_dir / "libpod" / "tmp" / "pause.pid"
    if pause.exists():
        subprocess.run(["kill", pause.read_text().strip()], capture_output=True)
    Path(f"/dev/shm/libpod_rootless_lock_{user.uid}").unlink(missing_ok=True)
