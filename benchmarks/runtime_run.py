"""Issue 14 benchmark: `run` of one busybox bundle (`true`, docker's default device rules) by
dockyard-runtime, runc and crun, and what the cgroup v2 device program costs.

Cases, runtimes alternating run by run so drift hits all alike:
  v1   the host's cgroups (the devices controller takes the rules)
  v2   a private mount namespace whose /sys/fs/cgroup is the host's cgroup2 mount, so each
       runtime takes its v2 path and loads an eBPF device program (crun 1.8 cannot here:
       it raises RLIMIT_MEMLOCK, which root without CAP_SYS_RESOURCE may not)
and, in process, dockyard's device program alone: assemble, BPF_PROG_LOAD, BPF_PROG_ATTACH
to a fresh v2 cgroup.
Usage: runtime_run.py [RUNS=20]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fmt  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
V2_MOUNT = "/sys/fs/cgroup/unified"
PARENT = "/dybench-rt"


def rootfs(d: Path) -> Path:
    root = d / "rootfs"
    busybox = shutil.which("busybox")
    for sub in ("bin", "etc", "proc", "sys", "dev", "tmp"):
        (root / sub).mkdir(parents=True)
    shutil.copy2(busybox, root / "bin/busybox")
    for applet in ("sh", "true"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    return root


def bundle(d: Path, root: Path) -> Path:
    from dockyard.runtime.spec import RunOptions, generate_spec

    spec = generate_spec(RunOptions(container_id="bench", cgroup_parent=PARENT, cmd=["true"],
                                    hostname="bench"), {}, str(root))
    spec["root"] = {"path": str(root), "readonly": True}
    b = d / "bundle"
    b.mkdir()
    (b / "config.json").write_text(json.dumps(spec))
    return b


def argv(name: str, state: Path) -> list[str]:
    binary = str(Path(sys.executable).parent / "dockyard-runtime") if name == "dockyard" \
        else shutil.which(name)
    return [binary, "--root", str(state / name)]


def time_case(names: list[str], b: Path, state: Path, prefix: list[str]) -> dict[str, list[float]]:
    spec = json.loads((b / "config.json").read_text())
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(RUNS):
        for name in names:
            cid = "b" + uuid.uuid4().hex[:10]
            spec["linux"]["cgroupsPath"] = f"{PARENT}/{cid}"
            (b / "config.json").write_text(json.dumps(spec))
            t0 = time.perf_counter()
            p = subprocess.run([*prefix, *argv(name, state), "run", "--bundle", str(b), cid],
                               stdin=subprocess.DEVNULL, capture_output=True)
            times[name].append(time.perf_counter() - t0)
            if p.returncode:
                raise SystemExit(f"{name} run failed: {p.stderr.decode(errors='replace')[-400:]}")
    return times


def device_program_alone() -> list[float]:
    from dockyard.runtime import device_bpf
    from dockyard.runtime.spec import DEFAULT_DEVICE_RULES

    times = []
    for i in range(max(RUNS * 5, 50)):
        group = Path(V2_MOUNT) / f"dybench-bpf-{os.getpid()}-{i}"
        group.mkdir()
        try:
            t0 = time.perf_counter()
            device_bpf.apply(str(group), DEFAULT_DEVICE_RULES)
            times.append(time.perf_counter() - t0)
        finally:
            group.rmdir()
    return times


def report(case: str, times: dict[str, list[float]]) -> None:
    print(f"{case}:")
    ours = statistics.median(times["dockyard"])
    for name, xs in times.items():
        ratio = "" if name == "dockyard" else f"   ratio dockyard/{name} = {ours / statistics.median(xs):.2f}"
        print(f"  {name:<9} {fmt(xs)}{ratio}")


def main() -> None:
    from dockyard.runtime import cgroups

    others = [n for n in ("runc", "crun") if shutil.which(n)]
    with tempfile.TemporaryDirectory(prefix="dybench-rt-") as tmp:
        d = Path(tmp)
        b = bundle(d, rootfs(d))
        try:
            if not cgroups.is_unified():
                report("run on cgroup v1 (devices controller)",
                       time_case(["dockyard", *others], b, d / "state", []))
            if cgroups.is_unified() or cgroups.is_unified(V2_MOUNT):
                prefix = [] if cgroups.is_unified() else [
                    "unshare", "--mount", "--propagation", "private", "sh", "-c",
                    f'mount --bind {V2_MOUNT} /sys/fs/cgroup && exec "$@"', "sh"]
                subtree = Path(V2_MOUNT) / "cgroup.subtree_control"
                before = subtree.read_text().split()
                try:
                    report("run on cgroup v2 (eBPF device program)",
                           time_case(["dockyard", *[n for n in others if n == "runc"]], b,
                                     d / "state", prefix))
                finally:  # runc enables the root's controllers: put them back
                    added = [c for c in subtree.read_text().split() if c not in before]
                    if added and not cgroups.is_unified():
                        subtree.write_text(" ".join("-" + c for c in added))
                alone = device_program_alone()
                print(f"device program alone (assemble, load, attach): "
                      f"{statistics.median(alone) * 1000:.2f} ms median "
                      f"[{min(alone) * 1000:.2f}–{max(alone) * 1000:.2f}] (n={len(alone)})")
        finally:
            for mount in cgroups.v1_hierarchies():
                try:
                    os.rmdir(mount + PARENT)
                except OSError:
                    pass


if __name__ == "__main__":
    main()
