import io
import os
import shutil
import tarfile

from dockyard.layers.apply import apply_layer
from dockyard.layers.changes import Change, changes
from dockyard.layers.diff import diff_dirs, tar_dir
from tests.helpers.treecompare import assert_same_tree


def make_tree(root):
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0\n")
    (root / "etc/gone").write_text("bye")
    (root / "var/cache").mkdir(parents=True)
    (root / "var/cache/blob").write_bytes(os.urandom(3000))
    os.symlink("etc/passwd", root / "pw")
    os.link(root / "etc/passwd", root / "etc/passwd-")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (1_600_000_000, 1_600_000_000), follow_symlinks=False)


def members(blob: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        return tf.getmembers()


def test_tar_dir_is_reproducible_sorted_and_anonymous(tmp_path):
    make_tree(tmp_path / "a")
    out1, out2 = io.BytesIO(), io.BytesIO()
    s1 = tar_dir(tmp_path / "a", out1)
    s2 = tar_dir(tmp_path / "a", out2)
    assert s1 == s2 and out1.getvalue() == out2.getvalue()
    names = [m.name for m in members(out1.getvalue())]
    assert names == ["etc", "etc/gone", "etc/passwd", "etc/passwd-", "pw", "var", "var/cache", "var/cache/blob"]
    info = {m.name: m for m in members(out1.getvalue())}
    assert info["etc/passwd-"].islnk() and info["etc/passwd-"].linkname == "etc/passwd"
    assert all(m.uname == "" and m.gname == "" for m in info.values())


def test_clamp_mtime_caps_every_entry(tmp_path):
    make_tree(tmp_path / "a")
    out = io.BytesIO()
    tar_dir(tmp_path / "a", out, clamp_mtime=1_000)
    assert {m.mtime for m in members(out.getvalue())} == {1_000}


def test_tar_dir_then_apply_gives_the_same_tree(tmp_path):
    make_tree(tmp_path / "src")
    out = io.BytesIO()
    stats = tar_dir(tmp_path / "src", out)
    (tmp_path / "dst").mkdir()
    out.seek(0)
    assert apply_layer(out, tmp_path / "dst", whiteout_mode="delete").diff_id == stats.diff_id
    assert_same_tree(tmp_path / "src", tmp_path / "dst")


def test_diff_dirs_layer_turns_lower_into_upper(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    make_tree(lower)
    shutil.copytree(lower, upper, symlinks=True)
    os.unlink(upper / "etc/gone")
    (upper / "etc/passwd").write_text("root:x:0:0\nbob:x:1000:1000\n")
    (upper / "new").write_text("new")
    shutil.rmtree(upper / "var/cache")
    os.chmod(upper / "var", 0o700)

    assert changes(upper, [lower], overlay=False) == [
        Change("C", "/etc"),
        Change("D", "/etc/gone"),
        Change("C", "/etc/passwd"),
        Change("A", "/new"),
        Change("C", "/var"),
        Change("D", "/var/cache"),
    ]
    out = io.BytesIO()
    stats = diff_dirs(lower, upper, out)
    names = [m.name for m in members(out.getvalue())]
    assert "etc/.wh.gone" in names and "var/.wh.cache" in names and "pw" not in names

    out.seek(0)
    assert apply_layer(out, lower, whiteout_mode="delete").diff_id == stats.diff_id
    assert_same_tree(lower, upper, ignore=["hardlinks"])


def test_unchanged_trees_give_an_empty_diff(tmp_path):
    make_tree(tmp_path / "lower")
    shutil.copytree(tmp_path / "lower", tmp_path / "upper", symlinks=True)
    assert changes(tmp_path / "upper", [tmp_path / "lower"], overlay=False) == []
    out = io.BytesIO()
    diff_dirs(tmp_path / "lower", tmp_path / "upper", out)
    assert members(out.getvalue()) == []
