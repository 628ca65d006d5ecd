"""Issue 19: the everyday read commands against the number of containers, dockyard and Docker
side by side: `ps`, `ps -a`, `images`, `inspect C`, `logs C` (a short log), `port C`, `top C`
with 0, 100 and 300 containers besides the one they look at (a running busybox with a
published port). Engines alternate command by command; medians over RUNS.

Also prints the floor: the interpreter's own start as the `dockyard` launcher runs it
(`python -S`, no site), with the two C modules every read-only command loads (SQLite and the
JSON scanner), and `python -c pass` (with site, what a console script would pay).

Run by hand as root: `.venv/bin/python benchmarks/cli_commands.py [RUNS=9] [COUNTS=0,100,300]`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, docker_available, env_for, median, teardown, timed  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 9
COUNTS = [int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "0,100,300").split(",")]
PREFIX = "dybench-cli-"
TARGET = PREFIX + "web"
COMMANDS = [("ps",), ("ps", "-a"), ("images",), ("inspect", TARGET), ("logs", TARGET), ("port", TARGET),
            ("top", TARGET)]


def engines(env: dict) -> dict[str, tuple[list[str], dict | None]]:
    found = {"dockyard": ([DOCKYARD], env)}
    if docker_available():
        found["docker"] = (["docker"], None)
    return found


def grow(base: list[str], env: dict | None, have: int, want: int) -> None:
    """Create containers PREFIX<have>..PREFIX<want-1> (created, not started)."""
    def one(i: int) -> None:
        subprocess.run([*base, "create", "--name", f"{PREFIX}{i}", "busybox", "true"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(have, want)))


def main() -> None:
    py = sys.executable
    floor = {"python -S -c pass": [py, "-S", "-c", "pass"],
             "python -S -c 'import _sqlite3, _json'": [py, "-S", "-c", "import _sqlite3, _json"],
             "python -c pass": [py, "-c", "pass"]}
    for name, cmd in floor.items():
        print(f"floor: {name:<40} {median([timed(cmd) for _ in range(RUNS)]) * 1000:6.1f} ms")
    with tempfile.TemporaryDirectory(prefix="dockyard-cli-bench-") as d:
        env = env_for(Path(d))
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        targets = engines(env)
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
                print(f"\n{n} containers besides {TARGET} (ms, median of {RUNS}):")
                print(f"  {'command':<28}" + "".join(f"{name:>10}" for name in targets) + "     ratio")
                for cmd in COMMANDS:
                    times: dict[str, list[float]] = {name: [] for name in targets}
                    for _ in range(RUNS):
                        for name, (base, e) in targets.items():
                            times[name].append(timed([*base, *cmd], env=e))
                    meds = {name: median(xs) * 1000 for name, xs in times.items()}
                    ratio = f"{meds['dockyard'] / meds['docker']:9.2f}" if "docker" in meds else ""
                    label = " ".join(cmd).replace(TARGET, "C")
                    print(f"  {label:<28}" + "".join(f"{m:10.1f}" for m in meds.values()) + ratio, flush=True)
                    for name, m in meds.items():
                        curve.setdefault((label, name), []).append(f"{m:.0f}")
            print(f"\ncurve (ms at {', '.join(map(str, COUNTS))} containers):")
            for (label, name), ms in curve.items():
                print(f"  {label:<12} {name:<9} {' / '.join(ms)}")
        finally:
            if "docker" in targets:
                ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"name={PREFIX}"], capture_output=True,
                                     text=True).stdout.split()
                if ids:
                    subprocess.run(["docker", "rm", "-f", *ids], stdout=subprocess.DEVNULL)
            teardown(env)


if __name__ == "__main__":
    main()
