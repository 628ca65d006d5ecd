"""Issue 21 benchmark: what cgroups cost a rootless `run --rm --network none busybox true`.

Run as root. Two throwaway users: one with no cgroups (the engine tracks containers by pid
namespace), one with cgroup v1 groups delegated (`dockyard system delegate-cgroups`), timed
without and with `--memory 64m`, beside rootful dockyard with `--memory 64m` and rootless
podman (which has no limits on cgroup v1), engines alternating run by run. Everything made is
removed at the end.
Usage: rootless_cgroups.py [RUNS=15]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import DOCKYARD, report_against, reset_rootless_podman  # noqa: E402
from rootless_run import ENV, alternate, podman_with_busybox, rootful_root  # noqa: E402
from tests.helpers.users import reachable_by_all  # noqa: E402
from tests.integration.rootless.conftest import end_pause_process, make_user, remove_user  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
RUN = ("run", "--rm", "--network", "none")


def main() -> None:
    reachable_by_all(DOCKYARD)
    plain, delegated = make_user(), make_user()
    rootful = rootful_root("dyrlcg-", {"cgroup-parent": "/dyrlcg"})
    podman = None
    subprocess.run([DOCKYARD, "system", "delegate-cgroups", "--user", delegated.name], check=True, capture_output=True)
    try:
        for user in (plain, delegated):
            user.dockyard("image", "bootstrap", "busybox")
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=ENV, check=True, capture_output=True)
        podman = podman_with_busybox(plain)
        commands = {
            "dockyard v1 --memory": (delegated, DOCKYARD, *RUN, "--memory", "64m", "busybox", "true"),
            "dockyard v1 groups": (delegated, DOCKYARD, *RUN, "busybox", "true"),
            "dockyard no cgroups": (plain, DOCKYARD, *RUN, "busybox", "true"),
            "rootful --memory": (None, DOCKYARD, *RUN, "--memory", "64m", "busybox", "true"),
        }
        if podman:
            commands["podman rootless"] = (plain, "podman", *RUN, "busybox", "true")
        times = alternate(commands, RUNS)
        report_against("rootless run --rm --network none busybox true (v1: the user's delegated groups; "
                       "podman has no limits on v1):", {k: v or [] for k, v in times.items()},
                       "dockyard v1 --memory")
    finally:
        if podman:
            reset_rootless_podman(plain)
        end_pause_process(delegated)
        subprocess.run([DOCKYARD, "system", "delegate-cgroups", "--user", delegated.name, "--undo"], check=True,
                       capture_output=True)
        subprocess.run(["rm", "-rf", str(rootful)])
        for user in (plain, delegated):
            remove_user(user)


if __name__ == "__main__":
    main()
