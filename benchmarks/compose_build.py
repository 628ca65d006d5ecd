"""`docker compose build` of a two-service project (multi-stage, a build arg, a 300-file
context), cold (`--no-cache`) and fully cached, three ways in the same run: dockyard through
BuildKit (compose's default: POST /grpc and /session), dockyard's classic POST /build
(DOCKER_BUILDKIT=0), and dockerd where it answers (DOCKER_BUILDKIT=0: its builder here).
The difference between dockyard's two doors is the session's round trips and file sync.

Usage: compose_build.py [RUNS=5]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_common import dockyard_server  # noqa: E402
from common import docker_available, drop_caches, median, report  # noqa: E402
from compose_up import compose_binary  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
COMPOSE = """\
services:
  app:
    build:
      context: ./app
      target: final
      args: {GREETING: hello}
    image: dybench/app
  tool:
    build: ./tool
    image: dybench/tool
"""
APP = """\
FROM busybox AS base
ARG GREETING
RUN echo "$GREETING" > /greeting
FROM base AS final
COPY files /files
RUN find /files -type f | wc -l > /count
"""
TOOL = "FROM busybox\nRUN echo tool > /tool\n"


def project(d: Path) -> Path:
    p = d / "bench"
    (p / "app" / "files").mkdir(parents=True)
    (p / "tool").mkdir()
    for i in range(300):
        (p / "app" / "files" / f"f{i:03}.txt").write_text(f"file {i}\n" * 40)
    (p / "app" / "Dockerfile").write_text(APP)
    (p / "tool" / "Dockerfile").write_text(TOOL)
    (p / "compose.yaml").write_text(COMPOSE)
    return p


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dy-compose-build-bench-") as tmp, dockyard_server() as (sock, _):
        d = Path(tmp)
        config = d / "docker-config"
        (config / "cli-plugins").mkdir(parents=True)
        (config / "cli-plugins" / "docker-compose").symlink_to(compose_binary())
        proj = project(d)
        base = {**os.environ, "DOCKER_CONFIG": str(config), "DOCKER_CLI_HINTS": "false"}
        base.pop("DOCKER_BUILDKIT", None)
        envs = {"buildkit": {**base, "DOCKER_HOST": f"unix://{sock}"},
                "classic": {**base, "DOCKER_HOST": f"unix://{sock}", "DOCKER_BUILDKIT": "0"}}
        if docker_available():
            envs["docker"] = {**base, "DOCKER_HOST": "unix:///var/run/docker.sock", "DOCKER_BUILDKIT": "0"}
        compose = ["docker", "compose", "--project-directory", str(proj), "-p", "dybench"]
        cold: dict[str, list[float]] = {name: [] for name in envs}
        cached: dict[str, list[float]] = {name: [] for name in envs}
        for _ in range(RUNS):
            for name, env in envs.items():
                drop_caches()
                t0 = time.perf_counter()
                subprocess.run([*compose, "build", "--no-cache"], env=env, check=True, capture_output=True)
                cold[name].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                subprocess.run([*compose, "build"], env=env, check=True, capture_output=True)
                cached[name].append(time.perf_counter() - t0)
        for env in envs.values():
            subprocess.run([*compose, "down", "--rmi", "all"], env=env, capture_output=True)
        for label, times in (("cold (--no-cache)", cold), ("fully cached", cached)):
            report(f"compose build, {label}, dockyard via BuildKit", times["buildkit"],
                   {k: v for k, v in times.items() if k != "buildkit"})
            print(f"  BuildKit door minus classic door: {median(times['buildkit']) - median(times['classic']):+.3f} s")


if __name__ == "__main__":
    main()
