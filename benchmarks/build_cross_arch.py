"""Build a small Dockerfile for linux/arm64 on this (amd64) host, RUN steps under QEMU user
emulation: cold (--no-cache) and fully cached, dockyard against `docker build --platform
linux/arm64` (classic builder) and `podman build --platform linux/arm64` where they are
installed (all from the same arm64 busybox, bootstrapped by dockyard and loaded into the
others), runs alternating.

    .venv/bin/python benchmarks/build_cross_arch.py [RUNS]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import DOCKYARD, docker_available, env_for, podman_available, report, teardown, timed

DOCKERFILE = """\
ARG BASE=busybox:arm64
FROM $BASE
WORKDIR /app
COPY a.txt ./
RUN uname -m > machine && cat a.txt | wc -l > lines
RUN for i in 1 2 3; do echo $i; done > loop
CMD ["sh"]
"""
TAG = "dockyard-bench/cross:latest"
BASE = "dockyard-bench/busybox-arm64:latest"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-cross-"))
    try:
        ctx = work / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "a.txt").write_text("hello\n" * 1000)
        env = env_for(work)
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox", "arm64", "--arch", "arm64"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([DOCKYARD, "tag", "busybox:arm64", BASE], env=env, check=True)
        archive = work / "bb-arm64.tar"
        subprocess.run([DOCKYARD, "save", "-o", str(archive), BASE], env=env, check=True)
        engines = {"dockyard": ([DOCKYARD, "build", "-q", "--platform", "linux/arm64", "-t", TAG], env)}
        if docker_available():
            subprocess.run(["docker", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
            engines["docker"] = (["docker", "build", "-q", "--platform", "linux/arm64", "--build-arg", f"BASE={BASE}",
                                  "-t", TAG], {"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"})
        if podman_available():
            subprocess.run(["podman", "load", "-q", "-i", str(archive)], check=True, stdout=subprocess.DEVNULL)
            engines["podman"] = (["podman", "build", "-q", "--layers", "--platform", "linux/arm64",
                                  "--build-arg", f"BASE=docker.io/{BASE}", "-t", TAG], None)
        cold = {name: [] for name in engines}
        warm = {name: [] for name in engines}
        for _ in range(runs):
            for name, (cmd, cmd_env) in engines.items():
                cold[name].append(timed([*cmd, "--no-cache", str(ctx)], env=cmd_env))
                warm[name].append(timed([*cmd, str(ctx)], env=cmd_env))
        report("cross-arch (linux/arm64) build, cold (--no-cache)", cold.pop("dockyard"), cold)
        report("cross-arch (linux/arm64) build, fully cached", warm.pop("dockyard"), warm)
    finally:
        for tool in ("docker", "podman"):
            if shutil.which(tool):
                subprocess.run([tool, "rmi", "-f", TAG, BASE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=False)
        teardown(env_for(work))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
