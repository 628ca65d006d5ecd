"""Which limits a rootless engine's delegated cgroups can hold, and where its containers go
(runtime/delegation.py); finding the delegation itself is tested as a user in
tests/integration/rootless/test_cgroups*.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime import delegation
from dockyard.runtime.cgroups import CgroupV2


def test_a_delegated_cgroup_holds_its_subtree_only():
    d = delegation.V2("/sys/fs/cgroup", "/user.slice/alice/")
    assert d.base == "/user.slice/alice"
    assert d.contains("/user.slice/alice/dockyard/c1") and d.contains("user.slice/alice")
    assert not d.contains("/user.slice/alice2/dockyard") and not d.contains("/dockyard/c1")
    assert d.parent("/dockyard") == "/user.slice/alice/dockyard"


def test_limits_are_refused_by_flag_and_missing_controller(tmp_path: Path, monkeypatch):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "cgroup.controllers").write_text("memory pids\n")
    monkeypatch.setattr(delegation, "found", lambda: delegation.V2(str(tmp_path), "/alice"))
    delegation.refuse_limits({"Memory": 64 << 20, "PidsLimit": 10, "NanoCpus": 0})
    with pytest.raises(InvalidArgument, match=r"^--cpus: the cpu controller is not delegated to your cgroup /alice"):
        delegation.refuse_limits({"Memory": 64 << 20, "NanoCpus": 500_000_000})
    with pytest.raises(InvalidArgument, match="--oom-kill-disable: not available on cgroup v2"):
        delegation.refuse_limits({"OomKillDisable": True})
    with pytest.raises(InvalidArgument, match="only dockyard's own runtime"):
        delegation.refuse_limits({"Memory": 64 << 20}, own_runtime=False)

    monkeypatch.setattr(delegation, "found", lambda: delegation.V1({"/sys/fs/cgroup/memory": "memory"}, "/d-1"))
    monkeypatch.setattr(delegation, "_user_name", lambda: "alice")
    delegation.refuse_limits({"Memory": 64 << 20, "OomKillDisable": True, "PidsLimit": -1})
    with pytest.raises(InvalidArgument, match="--pids-limit: the pids cgroup v1 controller is not delegated to your "
                                              "user: as root, dockyard system delegate-cgroups --user alice"):
        delegation.refuse_limits({"PidsLimit": 10})

    monkeypatch.setattr(delegation, "found", lambda: None)
    delegation.refuse_limits({"PidsLimit": -1, "Memory": 0})
    with pytest.raises(InvalidArgument, match="--memory: rootless dockyard has no cgroup to set it in"):
        delegation.refuse_limits({"Memory": 64 << 20})


def test_a_delegated_v2_group_leaves_the_delegated_cgroups_own_controllers_alone(tmp_path: Path):
    alice = tmp_path / "alice"
    alice.mkdir()
    (alice / "cgroup.controllers").write_text("memory pids\n")
    (alice / "cgroup.subtree_control").write_text("")  # its settler's to write (delegation.settle)
    cg = CgroupV2("/alice/dockyard/c1", str(tmp_path), delegated="/alice")
    cg.create()
    assert (alice / "cgroup.subtree_control").read_text() == ""
    assert (alice / "dockyard" / "c1").is_dir()
