"""Issue 21 benchmark: rootless `run --rm busybox true` against rootful dockyard and rootless podman.

Run as root: it makes a throwaway user with subordinate ids (as the rootless tests do), runs
dockyard and podman as that user and dockyard as root, alternating engines run by run, and
removes the user and everything it left at the end. Both networks are timed where they work:
`--network none`, and each engine's default (dockyard's bridge in the user's network namespace;
podman's slirp4netns or pasta, which need /dev/net/tun usable by the user).
Usage: rootless_run.py [RUNS=20]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import DOCKYARD, report_against, reset_rootless_podman  # noqa: E402
from tests.helpers.users import reachable_by_all  # noqa: E402
from tests.integration.rootless.conftest import make_user, remove_user  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
ENV: dict[str, str] = {}  # rootful dockyard's, set in main


def timed_as(user, *command: str) -> float | None:
    import time

    t0 = time.perf_counter()
    p = subprocess.run(user.argv(*command) if user else list(command), env=user.env() if user else ENV,
                       cwd=user.home if user else None, capture_output=True)
    dt = time.perf_counter() - t0
    return None if p.returncode else dt


def rootful_root(prefix: str, daemon: dict) -> Path:
    """A temporary rootful root with `daemon` as its daemon.json, made ENV's, with busybox."""
    rootful = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    (rootful / "root").mkdir()
    (rootful / "root" / "daemon.json").write_text(json.dumps(daemon))
    ENV.update(PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               DOCKYARD_ROOT=str(rootful / "root"), DOCKYARD_RUN_DIR=str(rootful / "run"))
    return rootful


def podman_with_busybox(user) -> str | None:
    """"podman" once the user's rootless podman holds the user's dockyard busybox, else None."""
    archive = str(user.home / "busybox.tar")
    user.dockyard("save", "-o", archive, "busybox")
    return "podman" if user.run("podman", "load", "-i", archive, check=False).code == 0 else None


def alternate(commands: dict[str, tuple], runs: int, warmups: int = 1) -> dict[str, list[float] | None]:
    """Each command ((user or None, *argv) by name) timed `runs` times, engines in turn; None for
    one that failed its warm-up (it does not work here)."""
    times: dict[str, list[float] | None] = {name: [] for name in commands}
    for name, (who, *cmd) in commands.items():
        if any(timed_as(who, *cmd) is None for _ in range(warmups)):
            times[name] = None
    for _ in range(runs):
        for name, (who, *cmd) in commands.items():
            if times[name] is not None:
                dt = timed_as(who, *cmd)
                if dt is not None:
                    times[name].append(dt)
    return times


def main() -> None:
    reachable_by_all(DOCKYARD)
    user = make_user()
    rootful = rootful_root("dyrlbench-", {"bridge": "dyrlb0", "nft-table": "dyrlb", "cgroup-parent": "/dyrlb"})
    podman = None
    try:
        user.dockyard("image", "bootstrap", "busybox")
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=ENV, check=True, capture_output=True)
        podman = podman_with_busybox(user)
        cases = {}
        for network in ("none", "default"):
            flags = ["--network", "none"] if network == "none" else []
            commands = {
                "dockyard rootless": (user, DOCKYARD, "run", "--rm", *flags, "busybox", "true"),
                "dockyard rootful": (None, DOCKYARD, "run", "--rm", *flags, "busybox", "true"),
            }
            if podman:
                commands["podman rootless"] = (user, "podman", "run", "--rm", *flags, "busybox", "true")
            times = alternate(commands, RUNS, warmups=2)
            cases[network] = times
        for network, times in cases.items():
            report_against(f"run --rm busybox true, network {network}:", times, "dockyard rootless")
    finally:
        if podman:
            reset_rootless_podman(user)
        subprocess.run([DOCKYARD, "network", "prune", "-f"], env=ENV, capture_output=True)
        subprocess.run(["rm", "-rf", str(rootful)])
        remove_user(user)


if __name__ == "__main__":
    main()
