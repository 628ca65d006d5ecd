"""A rootless engine with cgroup v1 groups root delegated to its user
(`dockyard system delegate-cgroups`, runtime/delegation.py): limits are real ones."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD
from tests.helpers.waiting import wait_for
from tests.integration.rootless.conftest import end_pause_process
from tests.integration.rootless.test_rootless import one_line_error

pytestmark = pytest.mark.root
HIERARCHIES = Path("/sys/fs/cgroup")


def root_dockyard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKYARD, *args], capture_output=True, text=True, timeout=60)


def users_groups(user) -> list[Path]:
    return sorted(HIERARCHIES.glob(f"*/dockyard-rootless-{user.uid}"))


@pytest.fixture(scope="module")
def delegated(user):
    if not (HIERARCHIES / "memory" / "cgroup.procs").exists():
        pytest.skip("no cgroup v1 memory hierarchy on this host")
    done = root_dockyard("system", "delegate-cgroups", "--user", user.name)
    try:
        assert done.returncode == 0, done.stderr
        assert f"delegated {HIERARCHIES}/memory/dockyard-rootless-{user.uid} to {user.name}" in done.stdout
        user.dockyard("image", "bootstrap", "busybox")
        yield user
        left = user.dockyard("ps", "-aq").out.split()
        if left:
            user.dockyard("rm", "-f", *left)
    finally:
        end_pause_process(user)
        undone = root_dockyard("system", "delegate-cgroups", "--user", user.name, "--undo")
        assert undone.returncode == 0, undone.stderr
        assert not users_groups(user)


def v1_cgroup(pid: int, controller: str) -> str:
    return next(line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                if controller in line.split(":")[1].split(","))


def test_only_root_delegates_and_the_user_owns_only_the_groups_themselves(delegated):
    groups = users_groups(delegated)
    assert {g.parent.name for g in groups} >= {"memory", "pids", "cpu", "freezer"}
    assert "devices" not in {g.parent.name for g in groups}
    memory = HIERARCHIES / "memory" / f"dockyard-rootless-{delegated.uid}"
    assert memory.stat().st_uid == delegated.uid and (memory / "cgroup.procs").stat().st_uid == delegated.uid
    assert (memory / "memory.limit_in_bytes").stat().st_uid == 0  # the user's own cap stays root's
    line = one_line_error(delegated.dockyard("system", "delegate-cgroups", "--user", delegated.name, check=False))
    assert "run it as root" in line
    assert delegated.dockyard("info", "--format", "{{.CgroupDriver}}").out.strip() == "cgroupfs"


def test_limits_are_set_in_the_containers_own_groups(delegated):
    u = delegated
    cid = u.dockyard("run", "-d", "--memory", "64m", "--pids-limit", "20", "--cpus", "0.5", "--cpu-shares", "512",
                     "--cpuset-cpus", "0", "busybox", "sleep", "1000").out.strip()
    pid = json.loads(u.dockyard("inspect", cid).out)[0]["State"]["Pid"]
    base = f"/dockyard-rootless-{u.uid}/dockyard"
    for controller, name, value in (("memory", "memory.limit_in_bytes", str(64 << 20)), ("pids", "pids.max", "20"),
                                    ("cpu", "cpu.cfs_quota_us", "50000"), ("cpu", "cpu.shares", "512"),
                                    ("cpuset", "cpuset.cpus", "0")):
        group = v1_cgroup(pid, controller)
        assert group == f"{base}/{cid}"
        assert (HIERARCHIES / controller / group.strip("/") / name).read_text().strip() == value
    u.dockyard("update", "--memory", "96m", "--pids-limit", "30", cid)
    memory = HIERARCHIES / "memory" / base.strip("/") / cid
    assert (memory / "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
    assert (HIERARCHIES / "pids" / base.strip("/") / cid / "pids.max").read_text().strip() == "30"
    stats = json.loads(u.dockyard("stats", "--no-stream", "--format", "{{json .}}", cid).out)
    assert stats["MemUsage"].endswith("96MiB"), stats
    u.dockyard("pause", cid)  # the freezer is delegated too
    assert (HIERARCHIES / "freezer" / base.strip("/") / cid / "freezer.state").read_text().strip() == "FROZEN"
    u.dockyard("unpause", cid)
    busy = root_dockyard("system", "delegate-cgroups", "--user", u.name, "--undo")
    assert busy.returncode == 125 and busy.stderr.count("\n") == 1 and "remove the user's containers first" in busy.stderr
    assert len(users_groups(u)) >= 4 and (HIERARCHIES / "memory" / base.strip("/") / cid).is_dir()
    u.dockyard("rm", "-f", cid)
    assert not [g for g in HIERARCHIES.glob(f"*/dockyard-rootless-{u.uid}/*") if g.is_dir()]


def test_a_memory_hog_is_oom_killed_and_a_fork_beyond_the_pids_limit_fails(delegated):
    u = delegated
    res = u.dockyard("run", "--name", "hog", "--memory", "32m", "busybox", "tail", "/dev/zero", check=False)
    assert res.code == 137, res
    state = json.loads(u.dockyard("inspect", "hog").out)[0]["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137
    u.dockyard("rm", "hog")
    res = u.dockyard("run", "--rm", "--pids-limit", "3", "busybox", "sh", "-c",
                     "sleep 9 & sleep 9 & sleep 9 & sleep 9 & wait", check=False)
    assert res.code != 0 and "fork" in res.err.lower(), res
    wait_for(lambda: u.dockyard("ps", "-aq").out == "", what="the --rm container to go")


def test_runc_runs_without_the_delegated_groups_and_refuses_limits(delegated):
    # runc would look for the user's group on every hierarchy, devices' too: only dockyard's runtime uses them
    line = one_line_error(delegated.dockyard("run", "--rm", "--runtime", "runc", "--memory", "64m", "busybox", "true",
                                             check=False))
    assert "--memory" in line and "only dockyard's own runtime" in line
    assert delegated.dockyard("run", "--rm", "--runtime", "runc", "busybox", "echo", "hi").out == "hi\n"
    # its processes are found by its pid namespace, as without delegation
    cid = delegated.dockyard("run", "-d", "--runtime", "runc", "busybox", "sh", "-c", "sleep 1001 & exec sleep 1000").out.strip()
    wait_for(lambda: "sleep 1001" in delegated.dockyard("top", cid).out, what="both sleeps in top")
    assert "sleep 1000" in delegated.dockyard("top", cid).out
    delegated.dockyard("rm", "-f", cid)
    assert not list((delegated.runtime_dir / "dockyard" / "pidgroups").iterdir())


def test_the_docker_cli_sees_the_limits_the_groups_hold(delegated, tmp_path):
    sock = delegated.runtime_dir / "dockyard.sock"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = delegated.popen(DOCKYARD, "serve", stdout=out, stderr=out)
    try:
        wait_for(lambda: sock.is_socket() or server.poll() is not None, what="the API socket")
        docker = ("docker", "-H", f"unix://{sock}")
        info = delegated.run(*docker, "info", "--format",
                             "{{.CgroupDriver}} {{.CgroupVersion}} {{.MemoryLimit}} {{.PidsLimit}} {{.CPUSet}}")
        assert info.out.split() == ["cgroupfs", "1", "true", "true", "true"], log.read_text()
        # a --cgroup-parent is taken below the user's groups, and goes with its last container
        cid = delegated.run(*docker, "run", "-d", "--cgroup-parent", "/mine", "--memory", "48m", "busybox",
                            "sleep", "1000").out.strip()
        pid = json.loads(delegated.dockyard("inspect", cid).out)[0]["State"]["Pid"]
        mine = HIERARCHIES / "memory" / f"dockyard-rootless-{delegated.uid}" / "mine"
        assert v1_cgroup(pid, "memory") == f"/dockyard-rootless-{delegated.uid}/mine/{cid}"
        assert (mine / cid / "memory.limit_in_bytes").read_text().strip() == str(48 << 20)
        delegated.run(*docker, "rm", "-f", cid)
        assert not mine.exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
