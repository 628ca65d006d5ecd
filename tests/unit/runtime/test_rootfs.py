"""The mount sequence, run unprivileged against a recording fake of the kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.runtime import linux
from dockyard.runtime.securejoin import secure_join
from dockyard.runtime.rootfs import RootfsBuilder, parse_options
from dockyard.runtime.spec import RunOptions, generate_spec


class RecordingSyscalls:
    """Records every call instead of making it; mknod leaves a plain file behind."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mount(self, source, target, fstype, flags, data=""):
        self.calls.append(("mount", source, target, fstype, flags, data))

    def umount2(self, target, flags):
        self.calls.append(("umount2", target, flags))

    def pivot_root(self, new_root, put_old):
        self.calls.append(("pivot_root", new_root, put_old))

    def mknod(self, path, mode, device):
        self.calls.append(("mknod", path, mode, os.major(device), os.minor(device)))
        Path(path).touch()


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, dict]:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    spec = generate_spec(RunOptions(container_id="c1", cmd=["sh"], readonly_rootfs=True,
                                    hosts_path=str(tmp_path / "hosts")), {}, str(rootfs))
    return tmp_path, spec


def test_prepare_mounts_in_order_then_pivots(bundle, monkeypatch):
    monkeypatch.chdir(bundle[0])
    tmp, spec = bundle
    rootfs = str(tmp / "rootfs")
    fake = RecordingSyscalls()
    RootfsBuilder(fake, spec, str(tmp), {"memory": "/sys/fs/cgroup/memory/c1"}).prepare()
    mounts = [c for c in fake.calls if c[0] == "mount"]
    assert mounts[0] == ("mount", "", "/", "", linux.MS_SLAVE | linux.MS_REC, "")
    assert mounts[1] == ("mount", rootfs, rootfs, "", linux.MS_BIND | linux.MS_REC, "")
    targets = [c[2] for c in mounts]
    for dest in ("/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue",
                 "/dev/shm", "/etc/hosts", "/sys/fs/cgroup/memory"):
        assert rootfs + dest in targets, dest
    proc = next(c for c in mounts if c[2] == rootfs + "/proc")
    assert proc[3] == "proc" and proc[4] == linux.MS_NOSUID | linux.MS_NOEXEC | linux.MS_NODEV
    dev = next(c for c in mounts if c[2] == rootfs + "/dev")
    assert dev[3] == "tmpfs" and dev[5] == "mode=755,size=65536k"
    hosts = [c for c in mounts if c[2] == rootfs + "/etc/hosts"]
    assert hosts[0][1] == str(tmp / "hosts") and hosts[0][4] == linux.MS_BIND | linux.MS_REC
    assert hosts[1][4] == linux.MS_PRIVATE | linux.MS_REC
    nodes = {c[1][len(rootfs):]: (c[3], c[4]) for c in fake.calls if c[0] == "mknod"}
    assert nodes == {"/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7),
                     "/dev/random": (1, 8), "/dev/urandom": (1, 9), "/dev/tty": (5, 0)}
    assert os.readlink(tmp / "rootfs/dev/ptmx") == "pts/ptmx"
    assert os.readlink(tmp / "rootfs/dev/fd") == "/proc/self/fd"
    tail = fake.calls[-3:]
    assert tail[0] == ("pivot_root", ".", ".")
    assert tail[1] == ("mount", "", ".", "", linux.MS_SLAVE | linux.MS_REC, "")
    assert tail[2] == ("umount2", ".", linux.MNT_DETACH)


def test_finalize_masks_readonlies_and_locks_root(bundle, tmp_path):
    _, spec = bundle
    root = tmp_path / "view"
    (root / "proc/sys").mkdir(parents=True)
    (root / "proc/kcore").touch()
    (root / "proc/acpi").mkdir()
    fake = RecordingSyscalls()
    RootfsBuilder(fake, spec, str(tmp_path)).finalize(str(root))
    mounts = [c[1:] for c in fake.calls]
    assert (str(root / "proc/sys"), str(root / "proc/sys"), "", linux.MS_BIND | linux.MS_REC, "") in mounts
    assert any(m[1] == str(root / "proc/sys") and m[3] & linux.MS_REMOUNT and m[3] & linux.MS_RDONLY
               for m in mounts)
    assert ("/dev/null", str(root / "proc/kcore"), "", linux.MS_BIND, "") in mounts
    assert ("tmpfs", str(root / "proc/acpi"), "tmpfs", linux.MS_RDONLY, "") in mounts
    last = mounts[-1]
    assert last[1] == str(root) and last[3] & linux.MS_RDONLY and last[3] & linux.MS_REMOUNT


def test_parse_options():
    flags, propagation, data = parse_options(["nosuid", "ro", "rbind", "rslave", "mode=755", "size=1k"])
    assert flags == linux.MS_NOSUID | linux.MS_RDONLY | linux.MS_BIND | linux.MS_REC
    assert propagation == linux.MS_SLAVE | linux.MS_REC
    assert data == "mode=755,size=1k"


def test_secure_join_never_leaves_the_root(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/abs").symlink_to("/etc/shadow")
    (tmp_path / "etc/up").symlink_to("../../../../outside")
    assert secure_join(str(tmp_path), "/etc/abs") == str(tmp_path / "etc/shadow")
    assert secure_join(str(tmp_path), "/etc/up/x") == str(tmp_path / "outside/x")
    assert secure_join(str(tmp_path), "../../etc") == str(tmp_path / "etc")
