"""A build killed with SIGKILL in the middle of a RUN: the next command on its root (or `system
check --repair`) releases its container, cgroups, mounts, temporary directories and snapshot,
and a command on another root touches none of them."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import Dockyard
from tests.integration.build.build_support import write

pytestmark = pytest.mark.root


def _cgroups(dy: Dockyard) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/{dy.tag}/build-*") + glob.glob(f"/sys/fs/cgroup/{dy.tag}/build-*")


def _procs(cgroups: list[str]) -> list[int]:
    pids = []
    for d in cgroups:
        try:
            pids += [int(p) for p in Path(d, "cgroup.procs").read_text().split()]
        except OSError:
            pass
    return pids


def _mounts(hexes: set[str]) -> list[str]:
    targets = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [t for t in targets if any(h in t for h in hexes)]


def _temps(hexes: set[str]) -> list[str]:
    tmp = tempfile.gettempdir()
    return [os.path.join(tmp, n) for n in os.listdir(tmp) if n.startswith("dockyard-") and any(n.endswith(h) for h in hexes)]


def _wait_for_run(dy: Dockyard, proc: subprocess.Popen) -> list[str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        cgroups = _cgroups(dy)
        if _procs(cgroups):
            return cgroups
        assert proc.poll() is None, f"the build ended ({proc.returncode}) before its RUN ran"
        time.sleep(0.05)
    raise AssertionError("the RUN step never started")


def _scrub(dy: Dockyard, hexes: set[str]) -> None:
    """Whatever happened, leave nothing on the host (independently of the code under test)."""
    for cg in _cgroups(dy):
        for pid in _procs([cg]):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for target in _mounts(hexes):
        subprocess.run(["umount", "-l", target], capture_output=True)
    for path in _temps(hexes):
        shutil.rmtree(path, ignore_errors=True)
    deadline = time.monotonic() + 10
    for cg in sorted(_cgroups(dy) + glob.glob(f"/sys/fs/cgroup/*/{dy.tag}") + glob.glob(f"/sys/fs/cgroup/{dy.tag}"),
                     key=len, reverse=True):
        while os.path.isdir(cg) and time.monotonic() < deadline:
            try:
                os.rmdir(cg)
            except OSError:
                time.sleep(0.05)


@pytest.mark.parametrize("next_command", [("images",), ("system", "check", "--repair")])
def test_killed_build_leaves_nothing_after_the_next_command(dy, busybox, ctx, tmp_path, next_command):
    write(ctx, {"Dockerfile": "FROM busybox\nRUN echo started && sleep 600\n"})
    proc = dy.popen("build", "--progress", "plain", str(ctx), start_new_session=True,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hexes: set[str] = set()
    try:
        cgroups = _wait_for_run(dy, proc)
        hexes = {os.path.basename(c).removeprefix("build-") for c in cgroups}
        assert _mounts(hexes) and _temps(hexes)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert all(os.path.isdir(c) for c in cgroups)  # what the kill leaves behind

        # another root on the host: its commands leave this root's leftovers alone
        other = Dockyard(tmp_path / "other", Path(tempfile.mkdtemp(prefix="dyr-", dir="/tmp")))
        try:
            other("images")
            other("system", "check", "--repair")
        finally:
            other.cleanup()
            shutil.rmtree(other.run_dir, ignore_errors=True)
        assert _cgroups(dy) and _mounts(hexes) and _temps(hexes)
        assert os.listdir(dy.root / "builds")

        res = dy(*next_command)
        if next_command[0] == "system":
            assert "repaired: released what build-" in res.out and "store is clean" in res.out, res.out
        assert not _cgroups(dy)
        assert not _mounts(hexes)
        assert not _temps(hexes)
        assert not os.listdir(dy.root / "builds")
        eng = dy.engine()
        assert not [s for s in eng.snapshots.all() if s.key.startswith("build-")]
        assert "store is clean" in dy("system", "check").out
        # and the root builds as before
        write(ctx, {"Dockerfile": "FROM busybox\nRUN echo again > /f\n"})
        dy("build", "-q", str(ctx))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _scrub(dy, hexes)


def _contexts() -> set[str]:
    tmp = tempfile.gettempdir()
    return {os.path.join(tmp, n) for n in os.listdir(tmp) if n.startswith("dockyard-context-")}


def test_killed_build_from_stdin_leaves_no_context_dir(dy, busybox, ctx, tmp_path):
    import tarfile

    write(ctx, {"Dockerfile": "FROM busybox\nRUN echo started && sleep 600\n"})
    archive = tmp_path / "context.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(ctx / "Dockerfile", "Dockerfile")
    before = _contexts()
    with open(archive, "rb") as stdin:
        proc = dy.popen("build", "--progress", "plain", "-", stdin=stdin, start_new_session=True,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hexes: set[str] = set()
    left: set[str] = set()
    try:
        hexes = {os.path.basename(c).removeprefix("build-") for c in _wait_for_run(dy, proc)}
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        left = _contexts() - before
        assert len(left) == 1  # the unpacked context, named in the root's build markers
        context_hex = os.path.basename(next(iter(left))).removeprefix("dockyard-context-")
        hexes.add(context_hex)
        assert f"build-{context_hex}.json" in os.listdir(dy.root / "builds")

        dy("images")
        assert not (_contexts() & left)
        assert not os.listdir(dy.root / "builds")
        assert not _cgroups(dy) and not _mounts(hexes)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for path in left:
            shutil.rmtree(path, ignore_errors=True)
        _scrub(dy, hexes)
