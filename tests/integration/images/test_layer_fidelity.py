"""apply → commit → save → load keeps everything a rootfs holds, across both snapshotters."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from dockyard.images.compose import write_image, write_layer
from dockyard.layers.diff import diff_dirs, diff_overlay
from dockyard.oci.image import new_config
from tests.conftest import Dockyard
from tests.helpers.treecompare import snapshot as tree, tree_diff

pytestmark = pytest.mark.root


def mount(m, where) -> None:
    where.mkdir(exist_ok=True)
    if m.type == "bind":
        subprocess.run(["mount", "--bind", m.source, str(where)], check=True)
    else:
        subprocess.run(["mount", "-t", m.type, "-o", ",".join(m.options), m.source, str(where)], check=True)


def umount(where) -> None:
    subprocess.run(["umount", str(where)], check=True)


def change_everything(root) -> None:
    """The kinds of change a container makes that a layer must carry."""
    os.unlink(root / "etc/shadow")                                 # whiteout
    shutil.rmtree(root / "var")                                    # a dir removed ...
    (root / "var/new").mkdir(parents=True)                         # ... and recreated: opaque
    (root / "var/new/file").write_text("fresh")
    (root / "bin/suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(root / "bin/suid", 0o4755)                            # setuid bit
    os.link(root / "bin/suid", root / "bin/suid-link")             # hardlink
    os.symlink("../bin/suid", root / "etc/to-suid")                # symlink
    os.mknod(root / "dev/null2", 0o666 | 0o020000, os.makedev(1, 3))  # char device
    (root / "home/owned").write_text("mine")
    os.chown(root / "home/owned", 1234, 5678)                      # ownership
    os.setxattr(root / "home/owned", "user.note", b"kept")         # xattr
    os.setxattr(root / "home/owned", "trusted.tag", b"kept-too")
    os.utime(root / "home/owned", (1_500_000_000, 1_500_000_000))  # mtime
    os.mkfifo(root / "tmp/fifo")


@pytest.mark.parametrize("driver", ["overlay", "vfs"])
def test_commit_save_load_keeps_the_tree(tmp_path, driver):
    src = Dockyard(tmp_path / "a", tmp_path / "run")
    src("--storage-driver", driver, "image", "bootstrap", "busybox")
    eng = src.engine()
    img = eng.images.get("busybox")
    base_key = eng.images.top_layer(img)
    mounts = eng.snapshots.prepare("ctr", base_key)
    mnt = tmp_path / "mnt"
    mount(mounts[0], mnt)
    try:
        change_everything(mnt)
        expected = tree(mnt)
    finally:
        umount(mnt)
    # commit: the snapshot's changes become one new layer
    own = eng.snapshots.root / eng.snapshots.need("ctr").dir / "fs"
    if driver == "overlay":
        layer = write_layer(eng.content, lambda out: diff_overlay(own, out))
    else:
        layer = write_layer(eng.content, lambda out: diff_dirs(eng.snapshots.fs(base_key), own, out))
    base_cfg = eng.images.config(img)
    cfg = new_config([*base_cfg["rootfs"]["diff_ids"], layer.diff_id], container_config=base_cfg["config"],
                     history=[*base_cfg["history"], {"created_by": "commit"}])
    manifest = write_image(eng.content, cfg, [*eng.images.manifest(img)["layers"], layer.descriptor])
    from dockyard.oci.reference import parse_normalized
    new = eng.images.add_image(manifest, [parse_normalized("committed:1")])
    eng.snapshots.remove("ctr")
    src("save", "-o", str(tmp_path / "c.tar"), "committed:1")

    for other_driver in ("overlay", "vfs"):
        dst = Dockyard(tmp_path / f"b-{other_driver}", tmp_path / "run")
        dst("--storage-driver", other_driver, "load", "-i", str(tmp_path / "c.tar"))
        deng = dst.engine()
        assert deng.images.get("committed:1").id == new.id
        deng.snapshots.prepare("view", deng.images.top_layer(deng.images.get("committed:1")))
        mnt2 = tmp_path / f"mnt-{other_driver}"
        mount(deng.snapshots.mounts("view")[0], mnt2)
        try:
            got = tree(mnt2)
        finally:
            umount(mnt2)
        deng.snapshots.remove("view")
        diffs = tree_diff(expected, got)
        # the root directory's own mtime is the mount point's, not content
        assert not [d for d in diffs if not d.startswith("/:")], "\n".join(diffs)
