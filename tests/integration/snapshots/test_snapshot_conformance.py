"""One conformance suite for every snapshotter (overlay, fuse-overlayfs, vfs): same inputs, same visible trees."""

from __future__ import annotations

import io
import os
import subprocess

import pytest

from dockyard.errors import Conflict
from dockyard.layers.apply import apply_layer
from dockyard.oci.image import chain_id
from dockyard.snapshots import get_snapshotter
from dockyard.snapshots.mount import mount, unmount
from dockyard.store.metadata import MetadataDB
from tests.helpers.layertars import TarBuilder
from tests.helpers.treecompare import snapshot as tree

pytestmark = pytest.mark.root


@pytest.fixture(params=["overlay", "fuse-overlayfs", "vfs"])
def snap(request, tmp_path):
    return get_snapshotter(request.param, tmp_path / "root", MetadataDB(tmp_path / "db"))


def add_layer(snap, parent: str, data: bytes) -> str:
    tmp = snap.start_layer(parent)
    stats = apply_layer(io.BytesIO(data), tmp / "fs", whiteout_mode=snap.whiteout_mode)
    key = chain_id(parent, stats.diff_id)
    snap.publish(tmp, key, parent, "committed", stats.diff_id, stats.size)
    return key


def mounted_tree(snap, key: str, where) -> dict:
    """Mount the snapshot the way a container would see it and read the whole tree."""
    where.mkdir(exist_ok=True)
    mount(snap.mounts(key)[0], where)
    try:
        return tree(where, ignore=("mtime",)) | {}
    finally:
        unmount(where)


BASE = (TarBuilder().dir("etc").file("etc/keep", b"keep").file("etc/gone", b"gone")
        .dir("opq").file("opq/old", b"old").dir("opq/sub").file("opq/sub/deep", b"deep").bytes())
TOP = (TarBuilder().file("etc/.wh.gone").dir("opq").file("opq/.wh..wh..opq").file("opq/new", b"new")
       .file("etc/added", b"added", mode=0o4755).symlink("etc/link", "keep").hardlink("etc/hard", "etc/added").bytes())


def test_layers_stack_with_whiteouts_and_opaque_dirs(snap, tmp_path):
    base = add_layer(snap, "", BASE)
    top = add_layer(snap, base, TOP)
    snap.prepare("ctr", top)
    t = mounted_tree(snap, "ctr", tmp_path / "mnt")
    assert "/etc/gone" not in t and "/etc/keep" in t
    assert "/opq/old" not in t and "/opq/sub" not in t and "/opq/new" in t
    assert t["/etc/added"].mode == 0o4755 and t["/etc/link"].link == "keep"
    assert t["/etc/hard"].hardlinks == ("/etc/added",)
    snap.remove("ctr")


def test_active_snapshot_writes_do_not_touch_layers(snap, tmp_path):
    base = add_layer(snap, "", BASE)
    snap.prepare("c1", base)
    mnt = tmp_path / "m"
    mnt.mkdir()
    mount(snap.mounts("c1")[0], mnt)
    try:
        (mnt / "etc/keep").write_text("changed")
        os.unlink(mnt / "etc/gone")
    finally:
        unmount(mnt)
    assert (snap.fs(base) / "etc/keep").read_text() == "keep"
    assert (snap.fs(base) / "etc/gone").exists()
    snap.prepare("c2", base)
    assert mounted_tree(snap, "c2", tmp_path / "m2")["/etc/keep"].size == 4


def _super_options(where) -> str:
    where = os.path.realpath(where)
    with open("/proc/self/mountinfo") as f:
        return next(line.split(" - ")[1] for line in f if line.split()[4] == where)


def test_a_throwaway_upper_mounts_again_with_its_writes(snap, tmp_path):
    """An `--rm` container's rootfs (overlay `volatile`: nothing synced) mounts again, for a
    restart or a copy, with what was written, throwaway or not; other drivers ignore it."""
    snap.prepare("ctr", add_layer(snap, "", BASE))
    mnt = tmp_path / "m"
    mnt.mkdir()
    for throwaway, text in ((True, "one"), (True, "two"), (False, "three")):
        mount(snap.mounts("ctr")[0], mnt, throwaway=throwaway)
        try:
            assert ("fsync=volatile" in _super_options(mnt)) == (throwaway and snap.name == "overlay")
            assert (mnt / "etc/keep").read_text() == {"one": "keep", "two": "one", "three": "two"}[text]
            (mnt / "etc/keep").write_text(text)
        finally:
            unmount(mnt)
    snap.remove("ctr")
    assert snap.orphans() == []


def test_remove_refuses_parents_and_cleans_dirs(snap):
    base = add_layer(snap, "", BASE)
    top = add_layer(snap, base, TOP)
    with pytest.raises(Conflict):
        snap.remove(base)
    snap.remove(top)
    snap.remove(base)
    assert snap.all() == [] and not [e for e in os.scandir(snap.root) if not e.name.startswith("tmp-")]
    assert snap.orphans() == []


def test_same_key_twice_is_a_conflict(snap):
    base = add_layer(snap, "", BASE)
    with pytest.raises(Conflict):
        add_layer(snap, "", BASE)
    assert [s.key for s in snap.all()] == [base]
    assert snap.orphans() == []


def test_snapshot_directories_are_spread_over_the_filesystem(snap, tmp_path):
    """`chattr +T` on the snapshots directory (see snapshots.base.spread_subdirectories)."""
    probe = subprocess.run(["lsattr", "-d", str(tmp_path)], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"this filesystem has no inode flags: {probe.stderr.strip()}")
    flags = subprocess.run(["lsattr", "-d", str(snap.root)], capture_output=True, text=True, check=True).stdout
    assert "T" in flags.split()[0]
