"""A 200 MB build context whose .dockerignore leaves out almost all of it: the time from
starting the build to its first step, and to the finished image, for dockyard and (where
installed) `docker build` (classic builder) and `podman build`.

    .venv/bin/python benchmarks/build_context.py [RUNS]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DOCKYARD, docker_available, env_for, podman_available, report

DOCKERFILE = "ARG BASE=busybox\nFROM $BASE\nCOPY src /src\nRUN ls /src > /listing\n"
TAG = "dockyard-bench/context:latest"
# the first line each engine prints when it starts on the first step after FROM
FIRST_STEP = re.compile(rb"^(#\d+ \[\d+/\d+\] COPY|Step 2/|STEP 2/)")


def make_context(ctx: Path) -> None:
    (ctx / "src").mkdir(parents=True)
    for i in range(50):
        (ctx / "src" / f"m{i}.py").write_text(f"x = {i}\n" * 50)
    data = ctx / "data"
    block = os.urandom(1 << 20)
    for d in range(20):
        (data / f"d{d}").mkdir(parents=True)
        for f in range(10):
            (data / f"d{d}" / f"blob{f}.bin").write_bytes(block)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / ".dockerignore").write_text("data\n*.bin\n")


def run(cmd: list[str], env: dict | None) -> tuple[float, float]:
    """(seconds to the first step, seconds to the end) of one build."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = None
    for line in p.stdout:
        if first is None and FIRST_STEP.match(line):
            first = time.perf_counter() - t0
    if p.wait():
        raise SystemExit(f"{' '.join(cmd)} failed")
    end = time.perf_counter() - t0
    return (first if first is not None else end), end


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-ctx-"))
    try:
        ctx = work / "ctx"
        make_context(ctx)
        env = env_for(work)
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        engines = {"dockyard": ([DOCKYARD, "build", "--progress", "plain", "--no-cache", "-t", TAG], env)}
        if docker_available():
            engines["docker"] = (["docker", "build", "--no-cache", "-t", TAG],
                                 {**os.environ, "DOCKER_BUILDKIT": "0"})
        if podman_available():
            engines["podman"] = (["podman", "build", "--no-cache", "--build-arg", "BASE=localhost/busybox:latest",
                                  "-t", TAG], None)
        first = {name: [] for name in engines}
        total = {name: [] for name in engines}
        for _ in range(runs):
            for name, (cmd, cmd_env) in engines.items():
                a, b = run([*cmd, str(ctx)], cmd_env)
                first[name].append(a)
                total[name].append(b)
        report("200 MB context, 99% ignored: time to first step", first.pop("dockyard"), first)
        report("200 MB context, 99% ignored: whole build", total.pop("dockyard"), total)
    finally:
        for tool in ("docker", "podman"):
            if shutil.which(tool):
                subprocess.run([tool, "rmi", "-f", TAG], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
