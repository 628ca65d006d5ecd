"""A rootless engine in a cgroup v2 subtree delegated to its user (runtime/delegation.py).

Root makes a cgroup on the host's cgroup2 mount and hands it over as systemd's Delegate=yes
does (the directory, cgroup.procs, cgroup.subtree_control and cgroup.threads chowned to the
user); every command of the user starts inside it, as a login shell in a delegated unit would.
This host's cgroup2 mount has no controllers (all are bound to v1), so what is checked is what
v2 gives without them: containers tracked by their cgroups, frozen by cgroup.freeze, and limits
refused naming the controller that is not delegated.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD, Result
from tests.helpers.waiting import wait_for
from tests.integration.rootless.conftest import cgroups_below, end_pause_process

pytestmark = pytest.mark.root


def cgroup2_mount() -> Path | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("-") + 1] == "cgroup2":
            return Path(fields[4])
    return None


class Delegated:
    """The user's commands, each started inside the delegated cgroup (in its `init` leaf once
    the first command has moved the processes there, as it does a login shell's)."""

    def __init__(self, user, directory: Path) -> None:
        self.user, self.directory = user, directory
        self.base = "/" + str(directory.relative_to(cgroup2_mount()))

    def dockyard(self, *args: str, check: bool = True) -> Result:
        target = self.directory / "init" if (self.directory / "init").exists() else self.directory
        argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(target),
                *self.user.argv(DOCKYARD, *args)]
        p = subprocess.run(argv, capture_output=True, text=True, env=self.user.env(), cwd=self.user.home,
                           timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)} exited {p.returncode}\nstderr: {p.stderr}")
        return Result(p.returncode, p.stdout, p.stderr)


@pytest.fixture(scope="module")
def delegated(user):
    mount = cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 mount on this host")
    directory = mount / f"dyt-{secrets.token_hex(4)}"
    directory.mkdir()
    try:
        for path in (directory, *(directory / name for name in ("cgroup.procs", "cgroup.subtree_control",
                                                                   "cgroup.threads"))):
            os.chown(path, user.uid, user.gid)
        d = Delegated(user, directory)
        d.dockyard("image", "bootstrap", "busybox")
        yield d
        left = d.dockyard("ps", "-aq").out.split()
        if left:
            d.dockyard("rm", "-f", *left)
    finally:
        end_pause_process(user)
        wait_for(lambda: not any((c / "cgroup.procs").read_text().split() for c in cgroups_below(directory)),
                 what="the delegated cgroups to empty")
        for cgroup in cgroups_below(directory):
            cgroup.rmdir()


def v2_cgroup(pid: int) -> str:
    return next(line[3:] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if line.startswith("0::"))


def test_a_container_lives_in_its_own_cgroup_below_the_delegated_one(delegated):
    d = delegated
    cid = d.dockyard("run", "-d", "busybox", "sh", "-c", "sleep 1001 & exec sleep 1000").out.strip()
    state = json.loads(d.dockyard("inspect", cid).out)[0]["State"]
    group = v2_cgroup(state["Pid"])
    assert group.startswith(d.base + "/dockyard") and group.endswith("/" + cid), group
    directory = d.directory / group.removeprefix(d.base).strip("/")
    # the pause process and the user's commands wait in the leaf, the containers each in their own
    assert v2_cgroup(d.user.pause_pid()) == d.base + "/init"
    wait_for(lambda: len((directory / "cgroup.procs").read_text().split()) == 2, what="both sleeps")
    top = d.dockyard("top", cid).out
    assert "sleep 1000" in top and "sleep 1001" in top
    assert d.dockyard("stats", "--no-stream", "--format", "{{.PIDs}}", cid).out.strip() == "2"

    d.dockyard("pause", cid)
    assert json.loads(d.dockyard("inspect", cid).out)[0]["State"]["Status"] == "paused"
    assert (directory / "cgroup.freeze").read_text().strip() == "1"
    assert "frozen 1" in (directory / "cgroup.events").read_text()
    d.dockyard("unpause", cid)
    assert json.loads(d.dockyard("inspect", cid).out)[0]["State"]["Status"] == "running"
    assert "frozen 0" in (directory / "cgroup.events").read_text()

    assert d.dockyard("exec", cid, "echo", "in").out == "in\n"
    d.dockyard("exec", "-d", cid, "sleep", "1002")  # an exec's process joins the container's group
    wait_for(lambda: len((directory / "cgroup.procs").read_text().split()) == 3, what="the exec's sleep")

    d.dockyard("kill", cid)
    assert d.dockyard("wait", cid).out.strip() == "137"
    d.dockyard("rm", cid)
    assert not directory.exists() and not directory.parent.exists()
    assert [c.name for c in d.directory.iterdir() if c.is_dir()] == ["init"]


def test_rm_force_kills_every_process_of_the_cgroup_at_once(delegated):
    d = delegated
    cid = d.dockyard("run", "-d", "busybox", "sh", "-c", "trap '' TERM; sleep 1001 & sleep 1002 & wait").out.strip()
    group = v2_cgroup(json.loads(d.dockyard("inspect", cid).out)[0]["State"]["Pid"])
    directory = d.directory / group.removeprefix(d.base).strip("/")
    wait_for(lambda: len((directory / "cgroup.procs").read_text().split()) == 3, what="the container's processes")
    d.dockyard("rm", "-f", cid)
    assert not directory.exists() and d.dockyard("ps", "-aq").out == ""


def test_a_limit_whose_controller_is_not_delegated_is_refused_in_one_line(delegated):
    if (delegated.directory / "cgroup.controllers").read_text().split():
        pytest.skip("this host delegates controllers on its cgroup2 mount")
    res = delegated.dockyard("run", "--rm", "--memory", "64m", "busybox", "true", check=False)
    lines = res.err.strip().splitlines()
    assert res.code == 125 and len(lines) == 1, res
    assert "--memory" in lines[0] and "memory controller is not delegated" in lines[0]
    assert delegated.dockyard("ps", "-aq").out == ""
    # what `docker info` says: cgroups, but no controller to limit with
    assert delegated.dockyard("info", "--format", "{{.CgroupDriver}}").out.strip() == "cgroupfs"


def test_a_start_from_outside_the_delegated_cgroup_is_refused_in_one_line(delegated):
    # the kernel lets a process move others only within a cgroup it may write (the common ancestor's)
    res = delegated.user.dockyard("run", "--rm", "busybox", "true", check=False)  # from the test's own cgroup
    lines = res.err.strip().splitlines()
    assert res.code != 0 and len(lines) == 1 and "outside your delegated cgroup" in lines[0], res
    assert delegated.dockyard("ps", "-aq").out == ""
    assert [c.name for c in delegated.directory.iterdir() if c.is_dir()] == ["init"]
