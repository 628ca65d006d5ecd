"""cgroup file writes against a temporary directory tree shaped like cgroupfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import DockyardError
from dockyard.runtime.cgroups import CgroupV1, CgroupV2, cpu_weight, device_rule, v1_hierarchies

RESOURCES = {
    "memory": {"limit": 32 << 20, "swap": 48 << 20},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
    "pids": {"limit": 20},
}
DEVICES = [{"allow": False, "access": "rwm"},
           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
           {"allow": True, "type": "c", "major": 136, "access": "rwm"}]


def test_v2_create_enables_controllers_and_apply_writes_limits(tmp_path: Path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    cg = CgroupV2("/dockyard/c1", str(tmp_path))
    cg.create()
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpuset +cpu +io +memory +pids"
    assert (tmp_path / "dockyard").is_dir() and cg.directory == tmp_path / "dockyard/c1"
    (cg.directory / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (cg.directory / "memory.swap.max").write_text("max\n")  # a kernel accounting swap
    cg.apply(RESOURCES)
    files = {p.name: p.read_text() for p in cg.directory.iterdir() if p.name != "cgroup.controllers"}
    assert files == {"memory.max": str(32 << 20), "memory.swap.max": str(16 << 20),
                     "cpu.max": "50000 100000", "cpu.weight": "39", "cpuset.cpus": "0-1",
                     "pids.max": "20"}


def test_v2_unlimited_values_and_stats(tmp_path: Path):
    cg = CgroupV2("/c2", str(tmp_path))
    cg.create()
    (cg.directory / "cgroup.controllers").write_text("cpu memory pids\n")
    (cg.directory / "memory.swap.max").write_text("0\n")
    cg.apply({"memory": {"limit": -1, "swap": -1}, "cpu": {"quota": -1, "period": 50000},
              "pids": {"limit": -1}})
    d = cg.directory
    assert (d / "memory.max").read_text() == "max"
    assert (d / "memory.swap.max").read_text() == "max"
    assert (d / "cpu.max").read_text() == "max 50000"
    assert (d / "pids.max").read_text() == "max"
    (d / "memory.current").write_text("1234\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (d / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\n")
    (d / "pids.current").write_text("3\n")
    stats = cg.stats()
    assert (stats.memory_usage, stats.oom_kills, stats.cpu_usage_ns, stats.pids_current) == \
        (1234, 1, 2_500_000, 3)
    cg.freeze()
    assert (d / "cgroup.freeze").read_text() == "1"


def test_v2_a_limit_without_its_controller_is_refused_by_name(tmp_path: Path):
    cg = CgroupV2("/c3", str(tmp_path))
    cg.create()
    (cg.directory / "cgroup.controllers").write_text("cpu pids\n")
    with pytest.raises(DockyardError, match=r"^linux.resources.memory.limit: the memory "
                                            r"controller is not enabled in cgroup /c3$"):
        cg.apply({"memory": {"limit": 1 << 20}, "pids": {"limit": 5}})
    with pytest.raises(DockyardError, match="^linux.resources.unified.io.max: the io"):
        cg.apply({"unified": {"io.max": "8:0 rbps=1"}})
    assert not (cg.directory / "pids.max").exists()  # nothing written before the refusal


def test_cpu_weight_conversion():
    assert cpu_weight(2) == 1
    assert cpu_weight(1024) == 39
    assert cpu_weight(262144) == 10000


def test_device_rules():
    assert device_rule({"allow": False, "access": "rwm"}) == "a"
    assert device_rule({"type": "c", "major": 136, "access": "rwm"}) == "c 136:* rwm"
    assert device_rule({"type": "b", "major": 8, "minor": 0, "access": "r"}) == "b 8:0 r"


def test_v1_apply_and_cpuset_inheritance(tmp_path: Path):
    hierarchies = {str(tmp_path / n): n for n in ("cpu", "cpuset", "memory", "pids", "devices")}
    (tmp_path / "cpuset").mkdir()
    (tmp_path / "cpuset/cpuset.cpus").write_text("0-1\n")
    (tmp_path / "cpuset/cpuset.mems").write_text("0\n")
    cg = CgroupV1("/dockyard/c1", hierarchies)
    cg.create()
    assert (tmp_path / "cpuset/dockyard/cpuset.cpus").read_text() == "0-1"
    assert (tmp_path / "cpuset/dockyard/c1/cpuset.mems").read_text() == "0"
    cg.apply({**RESOURCES, "memory": {"limit": 32 << 20}, "devices": DEVICES})
    assert (tmp_path / "memory/dockyard/c1/memory.limit_in_bytes").read_text() == str(32 << 20)
    assert (tmp_path / "cpu/dockyard/c1/cpu.cfs_quota_us").read_text() == "50000"
    assert (tmp_path / "pids/dockyard/c1/pids.max").read_text() == "20"
    # each write to devices.allow replaces the file here; the last rule is the one left:
    # runc's default devices, after the config's
    assert (tmp_path / "devices/dockyard/c1/devices.allow").read_text() == "c 10:200 rwm"
    assert (tmp_path / "devices/dockyard/c1/devices.deny").read_text() == "a"


@pytest.mark.parametrize("rules", [
    [{"allow": True, "type": "c", "major": 10, "access": "rwm"},
     {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"}],
    [{"allow": True, "access": "rwm"}, {"allow": False, "type": "b", "minor": 1, "access": "r"},
     {"allow": True, "type": "b", "major": 8, "access": "rwm"}],
], ids=["deny-inside-allow", "allow-across-deny"])
def test_v1_refuses_device_rules_it_cannot_express(tmp_path: Path, rules):
    cg = CgroupV1("/c4", {str(tmp_path / "devices"): "devices"})
    cg.create()
    with pytest.raises(DockyardError, match="^linux.resources.devices: cgroup v1 cannot"):
        cg.apply({"devices": [{"allow": False, "access": "rwm"}, *rules]})
    assert not (tmp_path / "devices/c4/devices.allow").exists()


def test_v1_hierarchies_from_mountinfo(tmp_path: Path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
        "31 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "33 25 0:29 / /tmp rw - tmpfs tmpfs rw\n")
    assert v1_hierarchies(str(mountinfo)) == {
        "/sys/fs/cgroup/cpu,cpuacct": "cpu,cpuacct",
        "/sys/fs/cgroup/systemd": "xattr,name=systemd",
        "/sys/fs/cgroup/unified": "unified",
    }


def test_v1_hierarchies_among_two_mounts_per_container_of_1000(tmp_path: Path):
    """With 1,000 containers running the table has ~2,000 lines of theirs around a dozen cgroup
    lines (the last one here with no newline): only those are taken apart."""
    containers = "".join(f"{100 + i} 25 0:{90 + i} / /run/dy/containers/{i:064x}/rootfs rw - overlay overlay "
                         f"rw,lowerdir=/l:/m\n{3000 + i} 25 0:4 net:[4026] /run/dy/netns/{i:064x} rw - nsfs nsfs rw\n"
                         for i in range(1000))
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" + containers +
                         "31 25 0:27 / /sys/fs/cgroup/pids rw shared:4 - cgroup cgroup rw,pids\n" + containers +
                         "32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw")
    assert v1_hierarchies(str(mountinfo)) == {"/sys/fs/cgroup/memory": "memory", "/sys/fs/cgroup/pids": "pids",
                                              "/sys/fs/cgroup/unified": "unified"}


def test_the_hierarchies_are_found_once_per_process_and_mount_namespace():
    """Reading the mount table waits on the kernel's host-wide mount lock, which every other
    engine's mounts and unmounts hold: a start asks for the hierarchies several times, in
    the CLI and in the child it forks, and looks once (at /proc/self/cgroup, and at the
    table only where the hierarchies are not where systemd puts them)."""
    import subprocess
    import sys

    code = """
import os, sys
reads = []
looked = ("/proc/self/mountinfo", "/proc/self/cgroup")
sys.addaudithook(lambda ev, args: reads.append(args[0]) if ev == "open" and args[0] in looked else None)
from dockyard.runtime.cgroups import v1_hierarchies
first = v1_hierarchies()
first.clear()  # a caller changing its copy changes nothing
assert v1_hierarchies() == v1_hierarchies() != {}
pid = os.fork()
if pid == 0:
    v1_hierarchies()
    os._exit(len(reads))
print(len(reads), os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    parent, child = out.split()
    assert parent in ("1", "2") and child == parent


def test_the_hierarchies_found_without_the_mount_table_are_the_tables():
    """On a host laid out as systemd lays it out, the same mounts with the same controllers
    (the table's options also name mount flags such as `xattr`)."""
    from dockyard.runtime.cgroups import _read_hierarchies, _standard_hierarchies, is_unified

    if is_unified():
        pytest.skip("a pure cgroup v2 host has no v1 hierarchies")
    fast, table = _standard_hierarchies(), _read_hierarchies("/proc/self/mountinfo")
    assert fast is not None, "this host's hierarchies are where systemd puts them"
    assert fast.keys() == table.keys()
    assert all(set(fast[m].split(",")) <= set(table[m].split(",")) for m in fast)


def test_hierarchies_mounted_elsewhere_send_it_to_the_mount_table(tmp_path: Path, monkeypatch):
    """A hierarchy /proc/self/cgroup names that is not mounted at its usual place (here: no
    cgroup mount under the root at all, only directories of those names)."""
    from dockyard.runtime import cgroups

    if cgroups.is_unified():
        pytest.skip("a pure cgroup v2 host has no v1 hierarchies")
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        name = line.split(":", 2)[1].removeprefix("name=")
        (tmp_path / (name or "unified")).mkdir(exist_ok=True)
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", str(tmp_path))
    assert cgroups._standard_hierarchies() is None
