"""Shared helpers for the benchmarks: timing, medians, page-cache drops, the comparison engines.

Benchmarks are scripts run by hand (`make bench` or `.venv/bin/python benchmarks/NAME.py`); they
print medians over repeated runs and, where Docker or Podman is installed, their figures from
the same run with the ratio, alternating engines run by run so drift hits all alike.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

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
    its containers as docker0 does: a benchmark leaves nothing in the kernel."""
    ids = subprocess.run([DOCKYARD, "ps", "-aq", "--no-trunc"], env=env, capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run([DOCKYARD, "rm", "-f", *ids], env=env, capture_output=True)
    subprocess.run([DOCKYARD, "network", "prune", "-f"], env=env, capture_output=True)


def reset_rootless_podman(user) -> None:
    """Remove what rootless podman kept for a throwaway `user` (tests/integration/rootless):
    its storage, its pause process (started for it by podman, ended by its pid file) and lock file."""
    subprocess.run(user.argv("podman", "system", "reset", "--force"), env=user.env(), cwd=user.home,
                   capture_output=True)
    pause = user.runtime_dir / "libpod" / "tmp" / "pause.pid"
    if pause.exists():
        subprocess.run(["kill", pause.read_text().strip()], capture_output=True)
    Path(f"/dev/shm/libpod_rootless_lock_{user.uid}").unlink(missing_ok=True)
