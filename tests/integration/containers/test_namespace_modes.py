"""`--ipc container:X` and `--pid container:X` join X's namespaces; bad modes are refused at
create in moby's words, and joining a container that is not running fails at start."""

from __future__ import annotations

import pytest

from tests.conftest import Dockyard

pytestmark = pytest.mark.root


def test_ipc_and_pid_of_another_container(dy: Dockyard, busybox):
    dy("run", "-d", "--name", "holder", "--ipc", "shareable", "busybox", "sleep", "300")
    theirs = dy("exec", "holder", "sh", "-c", "readlink /proc/self/ns/ipc; readlink /proc/1/ns/pid").out
    ours = dy("run", "--rm", "--ipc", "container:holder", "--pid", "container:holder", "busybox",
              "sh", "-c", "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; ps -o comm").out.split()
    assert ours[:2] == theirs.split() and "sleep" in ours[2:]
    # the default stays private
    assert dy("run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc").out.split() != theirs.split()[:1]


@pytest.mark.parametrize("flag,value,message", [
    ("--ipc", "bogus", "invalid IPC mode: bogus"),
    ("--pid", "bogus", "invalid PID mode: bogus"),
    ("--uts", "container:x", "invalid UTS mode: container:x"),
])
def test_bad_modes_are_refused_at_create(dy: Dockyard, busybox, flag, value, message):
    res = dy("create", flag, value, "busybox", "true", check=False)
    assert res.code != 0 and res.err.strip().endswith(message)
    assert dy("ps", "-aq").out == ""


def test_joining_a_stopped_container_fails_at_start(dy: Dockyard, busybox):
    dy("create", "--name", "idle", "busybox", "true")
    res = dy("run", "--pid", "container:idle", "busybox", "true", check=False)
    assert res.code != 0 and "cannot join PID of a non running container" in res.err
