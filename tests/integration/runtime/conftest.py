"""Fixtures for the runtime conformance suite: a busybox rootfs, a private cgroup parent,
and each runtime (dockyard's built-in, runc, crun) with its own state directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from dockyard.runtime import cgroups
from dockyard.runtime.oci import get_runtime
from dockyard.runtime.spec import RunOptions, generate_spec

pytestmark = pytest.mark.root

RUNTIMES = ["dockyard", "runc", "crun"]
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\nwheel:x:10:root\napp:x:1000:\nextra:x:2000:app\n"


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox rootfs: the static binary plus a symlink per applet."""
    _need_root()
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox-static is not installed")
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "mnt", "root"):
        (root / d).mkdir(parents=True)
    shutil.copy2(busybox, root / "bin/busybox")
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        path = root / applet
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.symlink_to("/bin/busybox")
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    return str(root)


@pytest.fixture
def cgroup_parent() -> str:
    """A cgroup parent of this test's own, removed afterwards (which fails if any process
    of the test is still in it)."""
    _need_root()
    parent = f"/dockyard-test-{uuid.uuid4().hex[:8]}"
    yield parent
    cg = cgroups.open_cgroup(parent)
    for directory in cg.dirs().values():
        if directory.exists():
            leftovers = [p for p in directory.iterdir() if p.is_dir()]
            for child in leftovers:
                child.rmdir()
            directory.rmdir()
            assert not leftovers, f"runtime left cgroups behind: {leftovers}"


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest, tmp_path: Path, cgroup_parent: str):
    """Each runtime with a private state root; every container still there afterwards is
    force-deleted (before the cgroup parent is checked and removed)."""
    _need_root()
    name = request.param
    if name != "dockyard" and shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    if name == "crun":
        # crun 1.8 wants a v1 hugetlb hierarchy on this cgroup layout
        hugetlb = "/sys/fs/cgroup/hugetlb"
        if not os.path.ismount(hugetlb):
            os.makedirs(hugetlb, exist_ok=True)
            subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", hugetlb],
                           check=True)
    rt = get_runtime(name, str(tmp_path / f"{name}-state"))
    rt.created = []  # container ids to clean up
    yield rt
    for cid in rt.created:
        try:
            rt.delete(cid, force=True)
        except Exception:
            pass


def run_on_a_terminal(runtime, cid: str, bundle: str, tmp_path: Path, until: bytes) -> bytes:
    """Create with a console socket, take the pty master it sends, start, and read the
    terminal until `until` shows (or the container is gone, or 10 s have passed)."""
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        runtime.create(cid, bundle, console_socket=path, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn, _ = server.accept()
        with conn:
            master = socket.recv_fds(conn, 1024, 1)[1][0]
    runtime.start(cid)
    output = b""
    deadline = time.monotonic() + 10
    while until not in output and time.monotonic() < deadline:
        try:
            output += os.read(master, 1024)
        except OSError:
            break
    os.close(master)
    return output


class Bundles:
    """Writes bundles for a test: generate_spec over the shared busybox rootfs."""

    def __init__(self, rootfs: str, tmp: Path, cgroup_parent: str) -> None:
        self.rootfs, self.tmp, self.cgroup_parent = rootfs, tmp, cgroup_parent

    def make(self, cmd: list[str], **options) -> tuple[str, str]:
        """(container id, bundle dir)."""
        cid = "t" + uuid.uuid4().hex[:10]
        opts = RunOptions(container_id=cid, cgroup_parent=self.cgroup_parent, cmd=cmd,
                          hostname=options.pop("hostname", "box"), **options)
        spec = generate_spec(opts, {}, self.rootfs)
        spec["root"]["readonly"] = True  # the rootfs is shared by every test
        bundle = self.tmp / cid
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(spec))
        return cid, str(bundle)


@pytest.fixture
def bundles(rootfs: str, tmp_path: Path, cgroup_parent: str) -> Bundles:
    return Bundles(rootfs, tmp_path, cgroup_parent)
