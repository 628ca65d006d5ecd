"""Issue 21 benchmark: a rootless cold pull against rootful dockyard and rootless podman.

Run as root: it makes a throwaway user with subordinate ids (as the rootless tests do), serves
one image from the reference registry (docker-registry) on loopback, and pulls it cold (the
image removed and the page cache dropped before each pull) with dockyard as the user, dockyard as
root and podman as the user, alternating run by run; at the end it removes the user, the
registry and everything they left.

The image: one layer of the host's /usr/lib/python3.11 and /usr/share/locale (about 240 MB and
9,000 files; a Debian image is 120 MB in 9,000 files), so no mirror is needed.
Usage: rootless_pull.py [RUNS=5]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import DOCKYARD, drop_caches, report_against, reset_rootless_podman  # noqa: E402
from tests.integration.distribution.distribution_support import free_port  # noqa: E402
from tests.helpers.users import reachable_by_all  # noqa: E402
from tests.integration.rootless.conftest import make_user, remove_user  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
TREES = ("usr/lib/python3.11", "usr/share/locale")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dyrlpull-", dir="/var/tmp"))
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "DOCKYARD_ROOT": str(work / "root"), "DOCKYARD_RUN_DIR": str(work / "run")}
    port = free_port()
    (work / "registry.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {work / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    registry = subprocess.Popen(["docker-registry", "serve", str(work / "registry.yml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reachable_by_all(DOCKYARD)
    user = make_user()
    ref = f"127.0.0.1:{port}/bench/big:1"
    podman = shutil.which("podman") is not None
    try:
        subprocess.run(["tar", "-C", "/", "-cf", str(work / "layer.tar"), *TREES], check=True)
        subprocess.run([DOCKYARD, "import", str(work / "layer.tar"), ref], env=env, check=True, capture_output=True)
        subprocess.run([DOCKYARD, "push", ref], env=env, check=True, capture_output=True)
        size = sum(f.stat().st_size for f in (work / "registry").rglob("data") if f.is_file())
        print(f"image: {ref}, {size / 1e6:.0f} MB in the registry")

        def rootful(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([DOCKYARD, *args], env=env, capture_output=True, text=True)

        engines = {
            "dockyard rootless": (lambda: user.dockyard("rmi", ref, check=False),
                                  lambda: user.dockyard("pull", ref, check=False).code),
            "dockyard rootful": (lambda: rootful("rmi", ref), lambda: rootful("pull", ref).returncode),
        }
        if podman:
            engines["podman rootless"] = (lambda: user.run("podman", "rmi", ref, check=False),
                                          lambda: user.run("podman", "pull", "--tls-verify=false", ref,
                                                           check=False).code)
        times: dict[str, list[float]] = {name: [] for name in engines}
        for _ in range(RUNS):
            for name, (remove, pull) in engines.items():
                remove()
                drop_caches()
                t0 = time.perf_counter()
                code = pull()
                dt = time.perf_counter() - t0
                if code == 0:
                    times[name].append(dt)
        report_against("cold pull:", times, "dockyard rootless")
    finally:
        if podman:
            reset_rootless_podman(user)
        registry.terminate()
        registry.wait(10)
        remove_user(user)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
