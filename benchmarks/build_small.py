"""Build a 10-step Dockerfile on busybox: cold (--no-cache) and fully cached, dockyard against
`docker build` (classic builder) and `podman build` where they are installed, runs alternating.

    .venv/bin/python benchmarks/build_small.py [RUNS]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import DOCKYARD, docker_available, env_for, podman_available, report, timed

DOCKERFILE = """\
ARG BASE=busybox
FROM $BASE
ENV APP=/app
WORKDIR /app
COPY a.txt ./
COPY dir/ ./dir/
RUN echo one > one
RUN cat a.txt > two && ls dir > listing
LABEL bench=small
RUN for i in 1 2 3; do echo $i; done > loop
USER 1000
CMD ["sh"]
"""
TAG = "dockyard-bench/small:latest"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-build-"))
    try:
        ctx = work / "ctx"
        (ctx / "dir").mkdir(parents=True)
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "a.txt").write_text("hello\n" * 1000)
        for i in range(20):
            (ctx / "dir" / f"f{i}").write_text(f"{i}\n" * 100)
        env = env_for(work)
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        engines = {"dockyard": ([DOCKYARD, "build", "-q", "-t", TAG], env)}
        if docker_available():
            engines["docker"] = (["docker", "build", "-q", "-t", TAG], {"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"})
        if podman_available():
            engines["podman"] = (["podman", "build", "-q", "--layers", "--build-arg", "BASE=localhost/busybox:latest",
                                  "-t", TAG], None)
        cold = {name: [] for name in engines}
        warm = {name: [] for name in engines}
        for _ in range(runs):
            for name, (cmd, cmd_env) in engines.items():
                cold[name].append(timed([*cmd, "--no-cache", str(ctx)], env=cmd_env))
                warm[name].append(timed([*cmd, str(ctx)], env=cmd_env))
        report("10-step build, cold (--no-cache)", cold.pop("dockyard"), cold)
        report("10-step build, fully cached", warm.pop("dockyard"), warm)
    finally:
        for tool in ("docker", "podman"):
            if shutil.which(tool):
                subprocess.run([tool, "rmi", "-f", TAG], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
