"""Storage drivers rootless: each of overlay, fuse-overlayfs and vfs runs, commits and builds for
an ordinary user, and a new root picks the first whose trial mount works (snapshots/probe.py).

The fallbacks are reached for real: the overlay trial gets a mount option the kernel rejects,
and fuse-overlayfs is missing when its program is (DOCKYARD_FUSE_OVERLAYFS names another).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers.waiting import wait_for
from tests.integration.rootless.conftest import container_processes

pytestmark = pytest.mark.root

REFUSE_OVERLAY = {"DOCKYARD_STORAGE_PROBE_REFUSE": "overlay"}
NO_FUSE = {"DOCKYARD_FUSE_OVERLAYFS": "/nonexistent/fuse-overlayfs"}


def pause_mounts(user, word: str) -> list[str]:
    """Mount points in the user's pause process's mount namespace that mention `word`."""
    return [line for line in Path(f"/proc/{user.pause_pid()}/mountinfo").read_text().splitlines() if word in line]


def fuse_processes(user) -> list[int]:
    def prog(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return ""
    return [pid for pid in container_processes(user) if prog(pid) == "fuse-overlayfs"]


def fuse_open_to_users() -> bool:
    try:
        return os.stat("/dev/fuse").st_mode & 0o006 == 0o006
    except OSError:
        return False


NEEDS_FUSE = pytest.mark.skipif(not fuse_open_to_users(), reason="scripts/setup.sh makes /dev/fuse 0666")


@pytest.mark.parametrize("driver", ["overlay", pytest.param("fuse-overlayfs", marks=NEEDS_FUSE), "vfs"])
def test_each_driver_runs_commits_and_builds(user, driver):
    root = str(user.home / f"root-{driver}")

    def dy(*args: str, **kw):
        return user.dockyard("--root", root, *args, **kw)

    dy("--storage-driver", driver, "image", "bootstrap", "busybox")
    assert json.loads(dy("info", "--format", "{{json .}}").out)["Driver"] == driver
    res = dy("--storage-driver", "overlay" if driver != "overlay" else "vfs", "images", "-q", check=False)
    assert res.code == 125 and f"uses the {driver} storage driver" in res.err

    # a deleted file and an emptied directory (an opaque one) must survive the commit
    cid = dy("run", "--network", "none", "--name", "ctr", "busybox", "sh", "-c",
             "rm /bin/ls && rm -rf /home && mkdir /home && echo new > /home/f && echo ok").out
    assert "ok" in cid
    changes = dy("diff", "ctr").out.split("\n")
    assert "D /bin/ls" in changes and "A /home/f" in changes
    dy("commit", "ctr", "committed:1")
    dy("rm", "ctr")
    out = dy("run", "--rm", "--network", "none", "committed:1", "sh", "-c",
             "ls /home; test -e /bin/ls || echo gone").out
    assert out.split() == ["f", "gone"]

    context = user.home / f"ctx-{driver}"
    user.run("mkdir", str(context))
    user.run("sh", "-c", f"printf 'FROM committed:1\\nRUN echo built > /built && rm /home/f\\n' > {context}/Dockerfile")
    dy("build", "-q", "--network", "none", "-t", "built:1", str(context))
    assert dy("run", "--rm", "--network", "none", "built:1", "sh", "-c", "cat /built; ls -A /home").out == "built\n"

    dy("rmi", "built:1", "committed:1")
    # nothing mounted or serving a mount once the containers are gone
    wait_for(lambda: not container_processes(user), what="the containers' processes (and fuse-overlayfs) to end")
    assert not pause_mounts(user, root) and not pause_mounts(user, str(user.runtime_dir))


def test_a_new_root_takes_the_first_driver_that_mounts(user):
    def driver(name: str, **env: str) -> str:
        root = str(user.home / f"probe-{name}")
        doc = json.loads(user.dockyard("--root", root, "info", "--format", "{{json .}}", env=user.env(**env)).out)
        # chosen once: the same root keeps it when the trial would now choose otherwise
        again = json.loads(user.dockyard("--root", root, "info", "--format", "{{json .}}").out)
        assert again["Driver"] == doc["Driver"]
        assert not [p for p in (user.home / f"probe-{name}" / "snapshots").iterdir()]  # trial dirs removed
        return doc["Driver"]

    assert driver("plain") == "overlay"
    assert driver("no-overlay", **REFUSE_OVERLAY) == ("fuse-overlayfs" if fuse_open_to_users() else "vfs")
    assert driver("neither", **REFUSE_OVERLAY, **NO_FUSE) == "vfs"
    wait_for(lambda: not fuse_processes(user), what="the trial's fuse-overlayfs to end with its unmount")

    # daemon.json's storage-driver, as dockerd's; --storage-driver and it must agree
    root = user.home / "configured"
    user.run("mkdir", str(root))
    user.run("sh", "-c", f"echo '{{\"storage-driver\": \"vfs\"}}' > {root}/daemon.json")
    assert json.loads(user.dockyard("--root", str(root), "info", "--format", "{{json .}}").out)["Driver"] == "vfs"
    res = user.dockyard("--root", str(root), "--storage-driver", "overlay", "info", check=False)
    assert res.code == 125 and len(res.err.strip().splitlines()) == 1 and "daemon.json" in res.err
    res = user.dockyard("--root", str(user.home / "bad"), "--storage-driver", "zfs", "info", check=False)
    assert res.code == 125 and "unknown storage driver 'zfs'" in res.err
