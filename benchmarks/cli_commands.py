"""Issue 19: the everyday read commands against the number of containers, dockyard, Docker and
Podman side by side: `ps`, `ps -a`, `images`, `inspect C`, `logs C` (a short log), `port C`,
`top C` with 0, 100 and 300 containers besides the one they look at (a running busybox with a
published port). Engines alternate command by command, with the floor among them (the
interpreter's start as the `dockyard` launcher makes it: `python -S -c pass`), so each round
sees the same host; medians over RUNS. Each line gives dockyard's time, how far above the
floor it is, the others' times and the ratios; the curve (cost against the number of
containers) closes the report.

Before the rounds: the floor's variants (`python -I -S`, `python -S` with the two C modules
every read-only command loads, and `python -c pass`, with site, what a console script pays).

Run by hand as root: `.venv/bin/python benchmarks/cli_commands.py [RUNS=9] [COUNTS=0,100,300]`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, docker_available, env_for, median, podman_available, teardown, timed  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 9
COUNTS = [int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "0,100,300").split(",")]
PREFIX = "dybench-cli-"
TARGET = PREFIX + "web"
COMMANDS = [("ps",), ("ps", "-a"), ("images",), ("inspect", TARGET), ("logs", TARGET), ("port", TARGET),
            ("top", TARGET)]
FLOOR = [sys.executable, "-S", "-c", "pass"]


def engines(env: dict) -> dict[str, tuple[list[str], dict | None]]:
    found = {"dockyard": ([DOCKYARD], env)}
    if docker_available():
        found["docker"] = (["docker"], None)
    if podman_available() and subprocess.run(["podman", "image", "exists", "busybox"]).returncode == 0:
        found["podman"] = (["podman"], None)
    return found


def grow(base: list[str], env: dict | None, have: int, want: int) -> None:
    """Create containers PREFIX<have>..PREFIX<want-1> (created, not started)."""
    def one(i: int) -> None:
        subprocess.run([*base, "create", "--name", f"{PREFIX}{i}", "busybox", "true"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(have, want)))


def remove_others(targets: dict) -> None:
    for name in ("docker", "podman"):
        if name in targets:
            ids = subprocess.run([name, "ps", "-aq", "--filter", f"name={PREFIX}"], capture_output=True,
                                 text=True).stdout.split()
            if ids:
                subprocess.run([name, "rm", "-f", *(["-t", "0"] if name == "podman" else []), *ids],
                               stdout=subprocess.DEVNULL)


def main() -> None:
    py = sys.executable
    floor = {"python -S -c pass (the launcher's)": FLOOR, "python -I -S -c pass": [py, "-I", "-S", "-c", "pass"],
             "python -S -c 'import _sqlite3, _json'": [py, "-S", "-c", "import _sqlite3, _json"],
             "python -c pass (with site)": [py, "-c", "pass"]}
    for name, cmd in floor.items():
        print(f"floor: {name:<40} {median([timed(cmd) for _ in range(RUNS)]) * 1000:6.1f} ms")
    with tempfile.TemporaryDirectory(prefix="dockyard-cli-bench-") as d:
        env = env_for(Path(d))
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        targets = engines(env)
        others = [name for name in targets if name != "dockyard"]
        try:
            for port, (base, e) in enumerate(targets.values(), start=18089):
                subprocess.run([*base, "run", "-d", "--name", TARGET, "-p", f"{port}:80", "busybox", "sh", "-c",
                                "echo hello; echo from the log; exec sleep 3600"], env=e, check=True,
                               stdout=subprocess.DEVNULL)
            have = 0
            curve: dict[tuple[str, str], list[str]] = {}
            for n in COUNTS:
                for base, e in targets.values():
                    grow(base, e, have, n)
                have = n
                print(f"\n{n} containers besides {TARGET} (ms, median of {RUNS}; floor = python -S -c pass, "
                      "timed in the same rounds):")
                print(f"  {'command':<12}{'dockyard':>10}{'floor':>8}{'above':>8}" + "".join(f"{o:>10}" for o in others)
                      + "".join(f"{'/' + o:>10}" for o in others))
                for cmd in COMMANDS:
                    times: dict[str, list[float]] = {name: [] for name in [*targets, "floor"]}
                    for _ in range(RUNS):
                        for name, (base, e) in targets.items():
                            times[name].append(timed([*base, *cmd], env=e))
                        times["floor"].append(timed(FLOOR))
                    meds = {name: median(xs) * 1000 for name, xs in times.items()}
                    label = " ".join(cmd).replace(TARGET, "C")
                    ours = meds["dockyard"]
                    print(f"  {label:<12}{ours:10.1f}{meds['floor']:8.1f}{ours - meds['floor']:8.1f}"
                          + "".join(f"{meds[o]:10.1f}" for o in others)
                          + "".join(f"{ours / meds[o]:9.2f}×" for o in others), flush=True)
                    for name in [*targets, "floor"]:
                        curve.setdefault((label, name), []).append(f"{meds[name]:.0f}")
            print(f"\ncurve (ms at {', '.join(map(str, COUNTS))} containers):")
            for (label, name), ms in curve.items():
                if name != "floor":
                    print(f"  {label:<12} {name:<9} {' / '.join(ms)}")
            print(f"  {'(floor)':<12} {'python -S':<9} {' / '.join(curve[(label, 'floor')])}")
        finally:
            remove_others(targets)
            teardown(env)


if __name__ == "__main__":
    main()
