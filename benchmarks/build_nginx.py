"""The seed walk-through's Dockerfile (Debian + apt-get install nginx), cold and fully cached,
dockyard against `docker build` (classic builder) and `podman build` where installed.
Needs the Debian mirror; the Debian base is bootstrapped once (see common.debian_archive).

    .venv/bin/python benchmarks/build_nginx.py [RUNS=2]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, debian_archive, docker_available, env_for, podman_available, report, timed  # noqa: E402

TAG = "dockyard-bench/nginx:latest"
CONTEXT = Path(__file__).resolve().parent.parent / "examples" / "nginx"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-nginx-", dir="/var/tmp"))
    try:
        env = env_for(work)
        subprocess.run([DOCKYARD, "load", "-q", "-i", str(debian_archive())], env=env, check=True)
        subprocess.run([DOCKYARD, "tag", "dockyard-bench/debian:bookworm", "debian:bookworm"], env=env, check=True)
        engines = {"dockyard": ([DOCKYARD, "build", "-q", "-t", TAG], env)}
        if docker_available():
            engines["docker"] = (["docker", "build", "-q", "-t", TAG], {"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"})
        if podman_available():
            engines["podman"] = (["podman", "build", "-q", "--layers", "-t", TAG], None)
        cold = {name: [] for name in engines}
        warm = {name: [] for name in engines}
        broken: set[str] = set()
        for _ in range(runs):
            for name, (cmd, cmd_env) in engines.items():
                if name in broken:
                    continue
                try:
                    cold[name].append(timed([*cmd, "--no-cache", str(CONTEXT)], env=cmd_env))
                    warm[name].append(timed([*cmd, str(CONTEXT)], env=cmd_env))
                except SystemExit as failure:  # an engine that cannot build here (no DNS in its containers, say)
                    print(f"{name}: {str(failure)[:200]}", file=sys.stderr)
                    broken.add(name)
        report("nginx walk-through build, cold (--no-cache; includes apt downloads)", cold.pop("dockyard"), cold)
        report("nginx walk-through build, fully cached", warm.pop("dockyard"), warm)
    finally:
        for rm in (["docker", "rmi", "-f", TAG], ["podman", "rmi", "-f", TAG]):
            if shutil.which(rm[0]):
                subprocess.run(rm, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([DOCKYARD, "system", "prune", "-a", "-f"], env=env_for(work), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
