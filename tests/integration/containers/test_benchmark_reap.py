"""A benchmark that fails part-way leaves nothing running (benchmarks/common.py `reap`): what its
root's engine could not remove is taken down by pid, its shims and everything under them,
then the root's mounts, links, firewall table, cgroups and entry in the host's registry."""

from __future__ import annotations

import importlib.util
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def bench_common():
    spec = importlib.util.spec_from_file_location("bench_common", BENCHMARKS / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_what_the_engine_left_running_is_reaped_by_pid(dy, busybox):
    cid = dy("run", "-d", "busybox", "sleep", "300").out.strip()
    init = int(dy("inspect", "-f", "{{.State.Pid}}", cid).out)
    shim = int((dy.run_dir / "s" / cid[:16] / "shim.pid").read_text().split()[0])
    owner, table = dy.root_id, dy.tag
    assert alive(init) and alive(shim)

    # no `rm -f`: as when the engine cannot remove what it made
    assert bench_common().reap(dy.root, dy.run_dir) == [shim]
    deadline = time.monotonic() + 30
    while alive(init):
        assert time.monotonic() < deadline, "the container's process outlived its reaped shim"
        time.sleep(0.02)
    assert not alive(shim)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(dy.run_dir) not in mounts and str(dy.root) not in mounts
    assert not [link for link in Path("/sys/class/net").iterdir()
                if (link / "ifalias").read_text().startswith(f"dockyard:{owner}:")]
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{table}"))
    assert f"inet {table}\n" not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert not Path(f"/run/dockyard-roots/{owner}.json").exists()
    assert bench_common().reap(dy.root, dy.run_dir) == []  # nothing left to kill
