"""The free-space guard's cost: unpack throughput with min-free-space on and off.

The guard looks at the filesystem (one statvfs) every 16 MiB written, never per file, so the
two should be within noise of each other. Unpacks the Debian layer when `make bench` has
built it (benchmarks/common.py), else a generated layer shaped like it (~6,600 files, ~120 MB),
into a directory under /var/tmp, alternating guard on and off run by run; then times
`dockyard load` of an archive of that layer with daemon.json's min-free-space 0 and "1GiB".
Prints medians and the difference.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_DIR, DOCKYARD, drop_caches, env_for, fmt, median, timed  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 9


def layer() -> Path:
    """The Debian layer if the other benchmarks left its archive, else a look-alike, made once."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    out = BENCH_DIR / "unpack-layer.tar"
    if out.exists():
        return out
    debian = BENCH_DIR / "debian.tar"
    if debian.exists():
        with tarfile.open(debian) as t:
            name = json.load(t.extractfile("manifest.json"))[0]["Layers"][0]
            with open(out, "wb") as f:
                shutil.copyfileobj(t.extractfile(name), f)
        return out
    rng = random.Random(7)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        for d in range(300):
            info = tarfile.TarInfo(f"usr/share/d{d:03}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            t.addfile(info)
            for i in range(22):  # mostly small files, like a distribution's
                data = rng.randbytes(int(rng.lognormvariate(8, 1.6)) % (2 << 20))
                info = tarfile.TarInfo(f"usr/share/d{d:03}/f{i:02}")
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    return out


def unpack_runs(tar: Path) -> tuple[list[float], list[float]]:
    from dockyard.layers.apply import apply_layer
    from dockyard.store.space import Reserve

    on, off = [], []
    for i in range(RUNS * 2):
        guarded = i % 2 == 0
        with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="dy-unpack-") as d:
            reserve = Reserve.parse(d, "1GiB" if guarded else 0)
            drop_caches()
            with open(tar, "rb") as f:
                f.read()  # the layer in the page cache: the unpack, not the read, is measured
                f.seek(0)
                t0 = time.perf_counter()
                apply_layer(f, d, whiteout_mode="overlay", guard=reserve.guard("layer"))
                (on if guarded else off).append(time.perf_counter() - t0)
    return on, off


def statvfs_calls(tar: Path) -> int:
    """How many times one guarded unpack looks at the filesystem."""
    from dockyard.layers.apply import apply_layer
    from dockyard.store.space import Reserve

    calls, real = [], os.statvfs

    def counting(path):
        calls.append(path)
        return real(path)

    os.statvfs = counting
    try:
        with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="dy-unpack-") as d, open(tar, "rb") as f:
            apply_layer(f, d, whiteout_mode="overlay", guard=Reserve.parse(d, "1GiB").guard("layer"))
    finally:
        os.statvfs = real
    return len(calls)


def load_runs(tar: Path) -> tuple[list[float], list[float]]:
    from tests.helpers.archives import classic_docker_archive

    archive = BENCH_DIR / "unpack-layer-archive.tar"
    if not archive.exists():
        archive.write_bytes(classic_docker_archive([tar.read_bytes()], ["dockyard-bench/unpack:1"]))
    on, off = [], []
    for i in range(RUNS * 2):
        guarded = i % 2 == 0
        with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="dy-load-") as d:
            env = env_for(Path(d))
            root = Path(env["DOCKYARD_ROOT"])
            root.mkdir()
            (root / "daemon.json").write_text(json.dumps({"min-free-space": "1GiB" if guarded else 0}))
            drop_caches()
            (on if guarded else off).append(timed([DOCKYARD, "load", "-q", "-i", str(archive)], env=env))
    return on, off


def show(name: str, on: list[float], off: list[float], mb: float) -> None:
    print(f"{name}:")
    print(f"  guard on   {fmt(on)}   {mb / median(on):.0f} MB/s")
    print(f"  guard off  {fmt(off)}   {mb / median(off):.0f} MB/s")
    print(f"  difference of the medians: {(median(on) / median(off) - 1) * 100:+.1f} %")


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    tar = layer()
    with tarfile.open(tar) as t:
        files = sum(1 for _ in t)
    mb = tar.stat().st_size / 1e6
    print(f"layer {tar}: {mb:.1f} MB, {files} entries; {RUNS} runs each, alternating\n")
    print(f"a guarded unpack of it calls statvfs {statvfs_calls(tar)} times\n")
    show("apply_layer (in-process unpack)", *unpack_runs(tar), mb)
    show("dockyard load (cold page cache)", *load_runs(tar), mb)


if __name__ == "__main__":
    main()
