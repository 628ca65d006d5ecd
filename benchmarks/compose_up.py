"""`docker compose up -d` of a two-service project with a healthcheck gating the second (the
images already built, so this is create + start + the wait for healthy), then `down`: wall
time against dockyard's API server and, where it answers, dockerd, alternating run by run.

Usage: compose_up.py [RUNS=10]
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
from common import docker_available, report  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
COMPOSE = """\
services:
  db:
    build: ./db
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 100ms
      retries: 100
  web:
    build: ./web
    depends_on:
      db:
        condition: service_healthy
    ports: ["8080"]
"""
DB = "FROM busybox\nCMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; touch /tmp/ready; while true; do sleep 0.1; done\"]\n"
WEB = "FROM busybox\nCMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n"


def compose_binary() -> Path:
    import compose
    return Path(compose.__file__).parent / "docker-compose"


def project(d: Path) -> Path:
    p = d / "bench"
    for name, text in (("db", DB), ("web", WEB)):
        (p / name).mkdir(parents=True)
        (p / name / "Dockerfile").write_text(text)
    (p / "compose.yaml").write_text(COMPOSE)
    return p


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dy-compose-bench-") as tmp, dockyard_server() as (sock, _):
        d = Path(tmp)
        config = d / "docker-config"
        (config / "cli-plugins").mkdir(parents=True)
        (config / "cli-plugins" / "docker-compose").symlink_to(compose_binary())
        proj = project(d)
        hosts = {"dockyard": f"unix://{sock}"}
        if docker_available():
            hosts["docker"] = "unix:///var/run/docker.sock"
        envs = {name: {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(config), "DOCKER_BUILDKIT": "0"}
                for name, host in hosts.items()}
        compose = ["docker", "compose", "--project-directory", str(proj), "-p", "dybench"]
        for env in envs.values():  # build once: the timed runs use cached images
            subprocess.run([*compose, "build"], env=env, check=True, capture_output=True)
        times: dict[str, list[float]] = {name: [] for name in envs}
        for _ in range(RUNS):
            for name, env in envs.items():
                t0 = time.perf_counter()
                subprocess.run([*compose, "up", "-d"], env=env, check=True, capture_output=True)
                times[name].append(time.perf_counter() - t0)
                subprocess.run([*compose, "down", "-t", "1"], env=env, check=True, capture_output=True)
        for env in envs.values():
            subprocess.run([*compose, "down", "--rmi", "all"], env=env, capture_output=True)
        report("compose up -d (2 services, healthcheck-gated)", times["dockyard"],
               {k: v for k, v in times.items() if k != "dockyard"})


if __name__ == "__main__":
    main()
