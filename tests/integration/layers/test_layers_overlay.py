"""Layers against the real kernel: overlay whiteouts, device nodes, owners, trusted xattrs."""

import io
import os
import stat
import subprocess

import pytest

from dockyard.layers.apply import apply_layer
from dockyard.layers.changes import Change, changes
from dockyard.layers.compression import open_writer
from dockyard.layers.diff import diff_overlay, tar_dir
from tests.helpers.layertars import TarBuilder
from tests.helpers.treecompare import assert_same_tree, snapshot

pytestmark = pytest.mark.root

if os.geteuid() != 0:
    pytest.skip("needs root", allow_module_level=True)


@pytest.fixture
def overlay(tmp_path):
    """Mounts overlayfs on demand; unmounts everything it mounted."""
    mounted = []

    def mount(lowers, upper, name="merged"):
        work, merged = tmp_path / f"{name}-work", tmp_path / name
        work.mkdir()
        merged.mkdir()
        opts = f"lowerdir={':'.join(map(str, lowers))},upperdir={upper},workdir={work}"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], check=True)
        mounted.append(merged)
        return merged

    yield mount
    for m in reversed(mounted):
        subprocess.run(["umount", str(m)], check=True)


def base_layer() -> bytes:
    return (
        TarBuilder()
        .file("etc/passwd", b"root:x:0:0\n")
        .file("etc/shadow", b"secret", mode=0o600)
        .file("opt/app/old.txt", b"old")
        .file("opt/app/conf/a.conf", b"a")
        .dir("var")  # with their own times: a parent the tar leaves out gets the time it was made
        .dir("var/log")
        .file("var/log/x.log", b"x")
        .bytes()
    )


def upper_layer() -> bytes:
    return (
        TarBuilder()
        .file("etc/.wh.shadow")
        .file("var/.wh.log")
        .dir("opt/app")
        .file("opt/app/.wh..wh..opq")
        .file("opt/app/new.txt", b"new")
        .file("etc/hostname", b"box\n")
        .bytes()
    )


def test_overlay_mode_whiteouts_give_the_right_merged_view(tmp_path, overlay):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    apply_layer(io.BytesIO(base_layer()), lower, whiteout_mode="overlay")
    apply_layer(io.BytesIO(upper_layer()), upper, whiteout_mode="overlay")

    wh = os.lstat(upper / "etc/shadow")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(upper / "opt/app", "trusted.overlay.opaque") == b"y"

    merged = overlay([lower], upper)
    assert sorted(os.listdir(merged / "etc")) == ["hostname", "passwd"]
    assert os.listdir(merged / "var") == []
    assert os.listdir(merged / "opt/app") == ["new.txt"]

    # The same two layers applied vfs-style give the same tree as the kernel's merged view.
    flat = tmp_path / "flat"
    flat.mkdir()
    apply_layer(io.BytesIO(base_layer()), flat, whiteout_mode="delete")
    apply_layer(io.BytesIO(upper_layer()), flat, whiteout_mode="delete")
    assert_same_tree(merged, flat, ignore=["mtime"])

    # diff_overlay turns the upper dir back into the OCI spelling of the same change.
    out = io.BytesIO()
    diff_overlay(upper, out)
    out.seek(0)
    again = tmp_path / "again"
    again.mkdir()
    apply_layer(io.BytesIO(base_layer()), again, whiteout_mode="delete")
    apply_layer(out, again, whiteout_mode="delete")
    assert_same_tree(flat, again, ignore=["mtime"])


def test_changes_made_through_a_mount_diff_and_list_like_docker(tmp_path, overlay):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    apply_layer(io.BytesIO(base_layer()), lower, whiteout_mode="overlay")
    merged = overlay([lower], upper)
    os.unlink(merged / "etc/shadow")
    (merged / "etc/passwd").write_bytes(b"root:x:0:0\nbob:x:1000:1000\n")
    (merged / "srv").mkdir()
    (merged / "srv/index.html").write_bytes(b"<h1>hi</h1>")
    subprocess.run(["rm", "-rf", str(merged / "opt/app")], check=True)
    (merged / "opt/app").mkdir()  # overlayfs makes this one opaque
    (merged / "opt/app/fresh").write_bytes(b"f")

    assert changes(upper, [lower]) == [
        Change("C", "/etc"),
        Change("C", "/etc/passwd"),
        Change("D", "/etc/shadow"),
        Change("C", "/opt"),
        Change("C", "/opt/app"),
        Change("D", "/opt/app/conf"),
        Change("A", "/opt/app/fresh"),
        Change("D", "/opt/app/old.txt"),
        Change("A", "/srv"),
        Change("A", "/srv/index.html"),
    ]

    out = io.BytesIO()
    stats = diff_overlay(upper, out)
    out.seek(0)
    replay = tmp_path / "replay"
    replay.mkdir()
    apply_layer(io.BytesIO(base_layer()), replay, whiteout_mode="delete")
    assert apply_layer(out, replay, whiteout_mode="delete").diff_id == stats.diff_id
    assert_same_tree(merged, replay)


def special_tree(root):
    root.mkdir()
    (root / "bin").mkdir()
    (root / "bin/su").write_bytes(b"\x7fELF su")
    os.chmod(root / "bin/su", 0o4755)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / "srv/shared").mkdir(parents=True)
    os.chmod(root / "srv/shared", 0o2775)
    (root / "dev").mkdir()
    os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(root / "dev/loop0", stat.S_IFBLK | 0o660, os.makedev(7, 0))
    os.mkfifo(root / "dev/initctl", 0o600)
    (root / "home/user").mkdir(parents=True)
    (root / "home/user/notes").write_bytes(b"mine")
    for p in ("home/user", "home/user/notes"):
        os.chown(root / p, 1234, 5678)
    os.symlink("notes", root / "home/user/link")
    os.lchown(root / "home/user/link", 1234, 5678)
    (root / "data").write_bytes(os.urandom(100_000))
    os.link(root / "data", root / "home/user/data-hardlink")
    os.setxattr(root / "data", "user.comment", b"hello")
    os.setxattr(root / "data", "trusted.dockyard", b"\x00\xffbinary")
    os.setxattr(root / "bin", "user.dir", b"on a dir")
    os.setxattr(root / "home/user/link", "trusted.onlink", b"x")
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in dirnames + filenames:
            t = 1_500_000_000 + len(name)
            os.utime(os.path.join(dirpath, name), (t, t), follow_symlinks=False)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_round_trip_keeps_everything_a_rootfs_needs(tmp_path, kind):
    src = tmp_path / "src"
    special_tree(src)
    blob = io.BytesIO()
    with open_writer(blob, kind) as w:
        first = tar_dir(src, w)
    blob.seek(0)
    dst = tmp_path / "dst"
    dst.mkdir()
    assert apply_layer(blob, dst, whiteout_mode="overlay").diff_id == first.diff_id

    tree = snapshot(dst)
    assert tree["/bin/su"].mode == 0o4755 and tree["/tmp"].mode == 0o1777 and tree["/srv/shared"].mode == 0o2775
    assert (tree["/dev/null"].type, tree["/dev/null"].rdev) == ("char", (1, 3))
    assert (tree["/home/user/notes"].uid, tree["/home/user/notes"].gid) == (1234, 5678)
    assert (tree["/home/user/link"].uid, tree["/home/user/link"].link) == (1234, "notes")
    assert tree["/data"].hardlinks == ("/home/user/data-hardlink",)
    assert dict(tree["/data"].xattrs) == {"trusted.dockyard": b"\x00\xffbinary", "user.comment": b"hello"}
    assert_same_tree(src, dst)

    second = io.BytesIO()
    assert tar_dir(dst, second).diff_id == first.diff_id  # apply -> diff reproduces the layer


def test_a_tar_cannot_set_overlayfs_private_xattrs(tmp_path):
    layer = TarBuilder().dir("d", pax_headers={
        "SCHILY.xattr.trusted.overlay.redirect": "/etc",
        "SCHILY.xattr.trusted.overlay.opaque": "y",
        "SCHILY.xattr.user.kept": "yes",
    }).bytes()
    (tmp_path / "upper").mkdir()
    apply_layer(io.BytesIO(layer), tmp_path / "upper", whiteout_mode="overlay")
    assert os.listxattr(tmp_path / "upper/d") == ["user.kept"]
