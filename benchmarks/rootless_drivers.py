"""Issue 21 benchmark: what each rootless storage driver costs (overlay, fuse-overlayfs, vfs).

Run as root: it makes a throwaway user with subordinate ids (as the rootless tests do), gives
them one root per driver (`--storage-driver`), and times, alternating drivers run by run:
`run --rm --network none busybox true` (a container's rootfs mounted and unmounted: vfs copies
the image whole), and reading every file of the image from a container (`cat` through the
mount: fuse-overlayfs serves each read from its process). Removes the user at the end.
Usage: rootless_drivers.py [RUNS=10]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import DOCKYARD, report_against  # noqa: E402
from tests.helpers.users import reachable_by_all  # noqa: E402
from tests.integration.rootless.conftest import make_user, remove_user  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
DRIVERS = ("overlay", "fuse-overlayfs", "vfs")
CASES = {
    "run --rm --network none busybox true": ("true",),
    "read every file of busybox from a container": ("sh", "-c", "find / -xdev -type f -exec cat {} + > /dev/null"),
}


def main() -> None:
    reachable_by_all(DOCKYARD)
    user = make_user()
    try:
        roots = {d: str(user.home / f"root-{d}") for d in DRIVERS}
        for driver, root in roots.items():
            user.dockyard("--root", root, "--storage-driver", driver, "image", "bootstrap", "busybox")
            user.dockyard("--root", root, "run", "--rm", "--network", "none", "busybox", "true")  # warm-up
        for title, command in CASES.items():
            times: dict[str, list[float]] = {d: [] for d in DRIVERS}
            for _ in range(RUNS):
                for driver, root in roots.items():
                    argv = user.argv(DOCKYARD, "--root", root, "run", "--rm", "--network", "none", "busybox", *command)
                    t0 = time.perf_counter()
                    p = subprocess.run(argv, env=user.env(), cwd=user.home, capture_output=True)
                    if p.returncode == 0:
                        times[driver].append(time.perf_counter() - t0)
            report_against(f"{title} (rootless; ratio: overlay's time over the other's):", times, "overlay")
    finally:
        remove_user(user)


if __name__ == "__main__":
    main()
