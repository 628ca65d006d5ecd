"""Isolation and limits of `dockyard run` containers, checked from inside as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import DOCKYARD

pytestmark = pytest.mark.root


def test_namespaces_isolate(dy, busybox):
    out = dy("run", "--rm", "--hostname", "inside", "busybox", "sh", "-c",
             "ps -o pid,comm | tail -n +2; hostname; ls /root 2>&1 | wc -l; cat /proc/mounts | grep -c ' / '").out.split("\n")
    assert out[0].split() == ["1", "sh"] and out[1].split()[1] == "ps"
    assert "inside" in out
    ifaces = dy("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net").out.split()
    assert ifaces == ["lo"]
    r = dy("run", "--rm", "busybox", "sh", "-c", "echo 1 > /proc/sys/kernel/panic", check=False)
    assert r.code != 0
    masked = dy("run", "--rm", "busybox", "sh", "-c", "cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l").out.split()
    assert masked == ["0", "0"]


@pytest.mark.parametrize("cmd", [["mount", "-t", "tmpfs", "t", "/tmp"], ["unshare", "-n", "true"],
                                 ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                                 ["date", "-s", "2000-01-01"]])
def test_default_container_cannot(dy, busybox, cmd):
    r = dy("run", "--rm", "busybox", *cmd, check=False)
    assert r.code != 0 or "not permitted" in r.err  # busybox date reports the failure but exits 0
    assert time.gmtime().tm_year > 2000


def test_cap_add_and_privileged(dy, busybox):
    assert dy("run", "--rm", "--cap-add", "NET_ADMIN", "busybox", "ip", "link", "add", "v0", "type", "veth",
              "peer", "name", "v1").code == 0
    assert dy("run", "--rm", "--privileged", "busybox", "mount", "-t", "tmpfs", "t", "/tmp").code == 0


def test_memory_limit_oom_kills(dy, busybox):
    r = dy("run", "--name", "hog", "-m", "32m", "--memory-swap", "32m", "busybox", "sh", "-c",
           "mkdir /tmp/m && mount -t tmpfs none /tmp/m 2>/dev/null; tail /dev/zero", check=False)
    assert r.code == 137
    st = json.loads(dy("inspect", "hog").out)[0]["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137


def test_pids_limit_stops_a_fork_bomb(dy, busybox):
    dy("run", "-d", "--name", "bomb", "--pids-limit", "20", "busybox", "sh", "-c",
       "i=0; while [ $i -lt 60 ]; do (sleep 30 &) 2>/dev/null; i=$((i+1)); done; sleep 30")
    c = dy.engine().containers.get("bomb")
    pids = f"/sys/fs/cgroup/pids/{dy.tag}/{c.id}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "max 0" in open(f"{pids}/pids.events").read():
        time.sleep(0.1)
    assert int(open(f"{pids}/pids.current").read()) <= 20
    assert "max 0" not in open(f"{pids}/pids.events").read()  # forks were refused
    dy("rm", "-f", "bomb")


def test_cpus_half_a_core(dy, busybox):
    dy("run", "-d", "--name", "spin", "--cpus", "0.5", "busybox", "sh", "-c", "while true; do :; done")
    eng = dy.engine()
    c = eng.containers.get("spin")
    usage = [p for p in ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct") if shutil.os.path.isdir(p)]
    if not usage:
        pytest.skip("no cgroup v1 cpuacct hierarchy here")
    cg = f"{usage[0]}/{dy.tag}/{c.id}"
    quota = next(f"{p}/{dy.tag}/{c.id}" for p in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct")
                 if shutil.os.path.isdir(p))
    assert (int(open(f"{quota}/cpu.cfs_quota_us").read()), int(open(f"{quota}/cpu.cfs_period_us").read())) \
        == (50000, 100000)
    # The quota caps the spin at half a core; a busy host may give it less, never more.
    time.sleep(0.3)
    a, t0 = int(open(f"{cg}/cpuacct.usage").read()), time.monotonic()
    time.sleep(1.5)
    b, t1 = int(open(f"{cg}/cpuacct.usage").read()), time.monotonic()
    cores = (b - a) / 1e9 / (t1 - t0)
    assert 0 < cores < 0.65, cores


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_other_runtimes_run_the_same_bundle(dy, busybox, runtime):
    if not shutil.which(runtime):
        pytest.skip(f"{runtime} is not installed")
    if runtime == "crun":
        import os
        import subprocess
        if not os.path.ismount("/sys/fs/cgroup/hugetlb") and os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") \
                and open("/sys/fs/cgroup/unified/cgroup.controllers").read().strip():
            os.makedirs("/sys/fs/cgroup/hugetlb", exist_ok=True)
            subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", "/sys/fs/cgroup/hugetlb"], check=True)
    out = dy("run", "--rm", "--runtime", runtime, "--hostname", "rt", "busybox", "sh", "-c",
             "hostname; ps -o pid,comm | sed -n 2p; id -u").out.split("\n")
    assert out[0] == "rt" and out[1].split() == ["1", "sh"] and out[2] == "0"
    dy("run", "-d", "--name", "rtd", "--runtime", runtime, "busybox", "sleep", "30")
    assert dy("exec", "rtd", "echo", "in").out == "in\n"
    dy("rm", "-f", "rtd")


def test_device_rules_on_cgroup_v2(dy, busybox):
    """The engine on cgroup v2 (here: a private mount namespace whose /sys/fs/cgroup is the
    host's cgroup2 mount): docker's device rules as an eBPF program, --device allowed, and
    the per-root cgroup parent gone with the last container."""
    from dockyard.runtime import cgroups

    v2 = "/sys/fs/cgroup" if cgroups.is_unified() else "/sys/fs/cgroup/unified"
    if not cgroups.is_unified(v2):
        pytest.skip("no cgroup2 mount on this host")
    on_v2 = [] if v2 == "/sys/fs/cgroup" else [
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        f'mount --bind {v2} /sys/fs/cgroup && exec "$@"', "sh"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*on_v2, DOCKYARD, "run", "--rm", "--network", "none", *args],
                              capture_output=True, text=True, env=dy.env, timeout=120)

    denied = run("busybox", "sh", "-c", "head -c1 /dev/zero | wc -c; mknod /dev/f c 10 229 && "
                 "echo made; exec 3</dev/f")
    assert denied.stdout.split() == ["1", "made"], denied
    assert "/dev/f: Operation not permitted" in denied.stderr
    allowed = run("--device", "/dev/fuse", "busybox", "sh", "-c", "exec 3<>/dev/fuse && echo opened")
    assert (allowed.returncode, allowed.stdout) == (0, "opened\n"), allowed
    assert not os.path.exists(f"{v2}/{dy.tag}")
