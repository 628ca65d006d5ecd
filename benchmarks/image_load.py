"""Issue 2 benchmark: load, save and import of a Debian base image (~120 MB, ~10k files).

Cold runs: the image is absent before each load and the page cache is dropped. Prints MB/s
and files/s for dockyard, and the same operations by podman and docker where installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (BENCH_DEBIAN, DOCKYARD, debian_archive, docker_available, drop_caches, env_for, median,  # noqa: E402
                    podman_available, report, timed)

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def archive_facts(tar: Path) -> tuple[float, int, Path]:
    """Size in MB, number of files in its layer, and the layer extracted as a rootfs tar for import."""
    with tarfile.open(tar) as t:
        import json
        man = json.load(t.extractfile("manifest.json"))
        layer = man[0]["Layers"][0]
        out = tar.with_name("debian-rootfs.tar")
        if not out.exists():
            with open(out, "wb") as f:
                shutil.copyfileobj(t.extractfile(layer), f)
    with tarfile.open(out) as lt:
        files = sum(1 for _ in lt)
    return tar.stat().st_size / 1e6, files, out


def main() -> None:
    tar = debian_archive()
    mb, files, rootfs = archive_facts(tar)
    print(f"archive {tar}: {mb:.1f} MB, {files} entries in its layer; {RUNS} cold runs each\n")
    load, save, imp = [], [], []
    pod_load, dock_load, pod_imp, dock_imp, pod_save, dock_save = [], [], [], [], [], []
    have_podman, have_docker = podman_available(), docker_available()
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
            env = env_for(Path(d))
            drop_caches()
            load.append(timed([DOCKYARD, "load", "-q", "-i", str(tar)], env=env))
            drop_caches()
            save.append(timed([DOCKYARD, "save", "-o", f"{d}/out.tar", BENCH_DEBIAN], env=env))
            drop_caches()
            imp.append(timed([DOCKYARD, "import", str(rootfs), "importtest:1"], env=env))
        if have_podman:
            subprocess.run(["podman", "rmi", "-f", BENCH_DEBIAN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            drop_caches()
            pod_load.append(timed(["podman", "load", "-q", "-i", str(tar)]))
            drop_caches()
            with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
                pod_save.append(timed(["podman", "save", "-q", "-o", f"{d}/p.tar", BENCH_DEBIAN]))
            subprocess.run(["podman", "rmi", "-f", BENCH_DEBIAN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            drop_caches()
            pod_imp.append(timed(["podman", "import", "-q", str(rootfs), "importtest:1"]))
            subprocess.run(["podman", "rmi", "-f", "importtest:1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if have_docker:
            subprocess.run(["docker", "rmi", "-f", BENCH_DEBIAN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            drop_caches()
            dock_load.append(timed(["docker", "load", "-q", "-i", str(tar)]))
            drop_caches()
            with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
                dock_save.append(timed(["docker", "save", "-o", f"{d}/d.tar", BENCH_DEBIAN]))
            subprocess.run(["docker", "rmi", "-f", BENCH_DEBIAN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            drop_caches()
            dock_imp.append(timed(["docker", "import", str(rootfs), "importtest:1"]))
            subprocess.run(["docker", "rmi", "-f", "importtest:1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report("load -i (cold, image absent)", load, {"podman": pod_load, "docker": dock_load})
    print(f"  dockyard load: {mb / median(load):.1f} MB/s, {files / median(load):.0f} files/s")
    report("save -o", save, {"podman": pod_save, "docker": dock_save})
    print(f"  dockyard save: {mb / median(save):.1f} MB/s")
    report("import rootfs tar", imp, {"podman": pod_imp, "docker": dock_imp})
    print(f"  dockyard import: {mb / median(imp):.1f} MB/s, {files / median(imp):.0f} files/s")


if __name__ == "__main__":
    main()
