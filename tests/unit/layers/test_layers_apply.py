import hashlib
import io
import os
import struct

import pytest

from dockyard.errors import CorruptContent, UnsafePath
from dockyard.layers.apply import apply_layer
from dockyard.layers.compression import open_writer

from tests.helpers.layertars import TarBuilder


@pytest.fixture
def target(tmp_path):
    root = tmp_path / "rootfs"
    root.mkdir()
    return root


def gz(data: bytes, kind: str = "gzip") -> io.BytesIO:
    buf = io.BytesIO()
    with open_writer(buf, kind) as w:
        w.write(data)
    buf.seek(0)
    return buf


def test_files_dirs_symlinks_hardlinks_and_metadata(target):
    layer = (
        TarBuilder()
        .dir("etc", mode=0o750, mtime=1_500_000_000)
        .file("etc/hosts", b"127.0.0.1 localhost\n", mode=0o640, mtime=1_400_000_000)
        .file("usr/bin/tool", b"#!/bin/sh\n", mode=0o4755)
        .symlink("bin", "usr/bin", mtime=1_300_000_000)
        .hardlink("etc/hosts.bak", "etc/hosts")
        .bytes()
    )
    stats = apply_layer(gz(layer), target, whiteout_mode="delete")

    assert stats.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest()
    # Docker's size: the files' bytes (the hard-linked one once) and the symlink's target
    assert stats.size == len(b"127.0.0.1 localhost\n#!/bin/sh\nusr/bin") and stats.files == 5
    assert (target / "etc/hosts").read_bytes() == b"127.0.0.1 localhost\n"
    st = os.stat(target / "etc/hosts")
    assert (st.st_mode & 0o7777, int(st.st_mtime)) == (0o640, 1_400_000_000)
    assert os.stat(target / "etc/hosts.bak").st_ino == st.st_ino
    assert os.stat(target / "usr/bin/tool").st_mode & 0o7777 == 0o4755
    assert os.readlink(target / "bin") == "usr/bin"
    assert int(os.lstat(target / "bin").st_mtime) == 1_300_000_000
    etc = os.stat(target / "etc")
    assert (etc.st_mode & 0o7777, int(etc.st_mtime)) == (0o750, 1_500_000_000)  # set after its content


@pytest.mark.parametrize("kind", ["", "gzip", "zstd"])
def test_diff_id_is_the_uncompressed_tar_digest_whatever_the_compression(target, kind):
    layer = TarBuilder().file("a", b"x" * 5000).bytes()
    stats = apply_layer(gz(layer, kind), target)
    assert stats.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest()


def test_expected_diff_id_mismatch_is_refused(target):
    layer = TarBuilder().file("a", b"x").bytes()
    with pytest.raises(CorruptContent, match="expected sha256:0000"):
        apply_layer(io.BytesIO(layer), target, expected_diff_id="sha256:" + "0" * 64)


def test_dotdot_escape_is_refused_and_writes_nothing_outside(tmp_path, target):
    layer = TarBuilder().file("../escaped", b"pwned").bytes()
    with pytest.raises(UnsafePath, match="outside the layer root"):
        apply_layer(io.BytesIO(layer), target)
    assert not (tmp_path / "escaped").exists()


def test_dotdot_inside_the_root_is_folded_like_docker(target):
    apply_layer(io.BytesIO(TarBuilder().file("a/../b", b"ok").bytes()), target)
    assert (target / "b").read_bytes() == b"ok"


def test_absolute_names_land_inside_the_root(target):
    apply_layer(io.BytesIO(TarBuilder().file("/etc/motd", b"hi").bytes()), target)
    assert (target / "etc/motd").read_bytes() == b"hi"


def test_file_through_a_symlink_climbing_out_is_refused(tmp_path, target):
    layer = TarBuilder().symlink("evil", "../../..").file("evil/escaped", b"pwned").bytes()
    with pytest.raises(UnsafePath, match="symlink that leads outside"):
        apply_layer(io.BytesIO(layer), target)
    assert not (tmp_path / "escaped").exists()
    assert not (tmp_path.parent / "escaped").exists()


def test_absolute_symlink_parent_resolves_inside_the_root_like_a_chroot(tmp_path, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = TarBuilder().symlink("lib", str(outside)).file("lib/libc.so", b"elf").bytes()
    apply_layer(io.BytesIO(layer), target)
    assert not (outside / "libc.so").exists()
    assert (target / str(outside).lstrip("/") / "libc.so").read_bytes() == b"elf"


def test_relative_symlink_parent_inside_the_root_is_followed(target):
    layer = TarBuilder().dir("usr/lib").symlink("lib", "usr/lib").file("lib/x.so", b"elf").bytes()
    apply_layer(io.BytesIO(layer), target)
    assert (target / "usr/lib/x.so").read_bytes() == b"elf"
    assert os.path.islink(target / "lib")


def test_file_entry_replaces_a_symlink_instead_of_writing_through_it(tmp_path, target):
    victim = tmp_path / "victim"
    victim.write_bytes(b"original")
    layer = TarBuilder().symlink("link", str(victim)).file("link", b"pwned").bytes()
    apply_layer(io.BytesIO(layer), target)
    assert victim.read_bytes() == b"original"
    assert (target / "link").read_bytes() == b"pwned" and not os.path.islink(target / "link")


def test_hardlink_to_outside_is_refused(tmp_path, target):
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    layer = TarBuilder().hardlink("copy", "../secret").bytes()
    with pytest.raises(UnsafePath):
        apply_layer(io.BytesIO(layer), target)
    assert not (target / "copy").exists()
    assert os.stat(secret).st_nlink == 1


def test_hardlink_through_an_escaping_symlink_is_refused(tmp_path, target):
    (tmp_path / "secret").write_bytes(b"secret")
    layer = TarBuilder().symlink("up", "..").symlink("up2", "up/..").hardlink("copy", "up2/secret").bytes()
    with pytest.raises(UnsafePath):
        apply_layer(io.BytesIO(layer), target)
    assert os.stat(tmp_path / "secret").st_nlink == 1


def test_hardlink_to_a_missing_target_is_corrupt(target):
    with pytest.raises(CorruptContent, match="does not contain"):
        apply_layer(io.BytesIO(TarBuilder().hardlink("a", "nowhere").bytes()), target)


def test_truncated_gzip_layer_is_corrupt_content(target):
    blob = gz(TarBuilder().file("big", os.urandom(200_000)).bytes()).getvalue()
    with pytest.raises(CorruptContent, match="gzip stream is truncated"):
        apply_layer(io.BytesIO(blob[: len(blob) // 2]), target)


def test_truncated_plain_tar_is_corrupt_content(target):
    layer = TarBuilder().file("big", os.urandom(200_000)).bytes()
    with pytest.raises(CorruptContent, match="tar is corrupt or truncated"):
        apply_layer(io.BytesIO(layer[:100_000]), target)


def test_whiteouts_in_delete_mode_remove_lower_content(target):
    lower = TarBuilder().file("etc/a", b"a").file("etc/b", b"b").file("var/log/x", b"x").file("var/log/y", b"y")
    apply_layer(lower.stream(), target, whiteout_mode="delete")
    upper = TarBuilder().file("etc/.wh.a").file("var/.wh.log").file(".wh.missing").bytes()
    apply_layer(io.BytesIO(upper), target, whiteout_mode="delete")
    assert sorted(os.listdir(target / "etc")) == ["b"]
    assert os.listdir(target / "var") == []
    assert not (target / "missing").exists() and not (target / ".wh.missing").exists()


def test_opaque_dir_in_delete_mode_keeps_only_this_layers_entries(target):
    lower = TarBuilder().file("d/old", b"o").file("d/sub/deep", b"d").file("keep/k", b"k")
    apply_layer(lower.stream(), target, whiteout_mode="delete")
    # ".a" sorts before the marker, "z" after it: both belong to the new layer.
    upper = TarBuilder().dir("d").file("d/.a", b"a").dir("d/sub").file("d/.wh..wh..opq").file("d/z", b"z").bytes()
    apply_layer(io.BytesIO(upper), target, whiteout_mode="delete")
    assert sorted(os.listdir(target / "d")) == [".a", "sub", "z"]
    assert os.listdir(target / "d/sub") == []
    assert os.listdir(target / "keep") == ["k"]


def test_directory_entry_over_a_file_replaces_it(target):
    apply_layer(TarBuilder().file("x", b"file").stream(), target, whiteout_mode="delete")
    apply_layer(TarBuilder().dir("x").file("x/inner", b"i").stream(), target, whiteout_mode="delete")
    assert (target / "x/inner").read_bytes() == b"i"


def test_replacing_a_dir_with_a_symlink_does_not_redirect_later_entries(tmp_path, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = TarBuilder().dir("a").dir("a/b").symlink("a", str(outside)).file("a/b/f", b"f").bytes()
    apply_layer(io.BytesIO(layer), target)
    assert os.listdir(outside) == []
    assert (target / str(outside).lstrip("/") / "b/f").read_bytes() == b"f"


@pytest.mark.parametrize("mode", [0o644, 0o755, 0o600, 0o000, 0o666, 0o777, 0o4755, 0o2711, 0o1777])
def test_file_modes_are_exact_whatever_the_umask(target, mode):
    old = os.umask(0o022)
    try:
        apply_layer(TarBuilder().file("f", b"x", mode=mode).stream(), target)
    finally:
        os.umask(old)
    assert os.stat(target / "f").st_mode & 0o7777 == mode


def _default_acl(user: int, group: int, other: int) -> str:
    """A minimal POSIX default ACL, as the system.posix_acl_default xattr holds it (in a PAX header)."""
    undefined = 0xFFFFFFFF
    entries = [(0x01, user, undefined), (0x04, group, undefined), (0x20, other, undefined)]
    raw = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    return raw.decode("utf-8", "surrogateescape")


def test_a_directory_default_acl_does_not_change_the_modes_of_its_files(tmp_path, target):
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        os.setxattr(probe, "system.posix_acl_default", _default_acl(7, 5, 0).encode("utf-8", "surrogateescape"))
    except OSError:
        pytest.skip("this filesystem keeps no POSIX ACLs")
    layer = (TarBuilder()
             .dir("d", pax_headers={"SCHILY.xattr.system.posix_acl_default": _default_acl(7, 5, 0)})
             .file("d/f", b"x", mode=0o644)
             .bytes())
    apply_layer(io.BytesIO(layer), target)
    os.close(os.open(target / "d/plain", os.O_CREAT | os.O_WRONLY, 0o644))
    assert os.stat(target / "d/plain").st_mode & 0o7777 == 0o640  # what the ACL does to a new file
    assert os.stat(target / "d/f").st_mode & 0o7777 == 0o644


def test_later_entries_replace_earlier_ones_of_any_kind(target):
    layer = (TarBuilder()
             .file("a", b"first").file("a", b"second")
             .dir("b").file("b/inner", b"i").file("b", b"now a file")
             .symlink("c", "/etc").file("c", b"not through the link")
             .file("d", b"x").symlink("d", "a")
             .bytes())
    apply_layer(io.BytesIO(layer), target)
    assert (target / "a").read_bytes() == b"second"
    assert (target / "b").read_bytes() == b"now a file"
    assert (target / "c").read_bytes() == b"not through the link" and not (target / "c").is_symlink()
    assert os.readlink(target / "d") == "a"


def test_a_hardlink_to_itself_keeps_the_file(target):
    apply_layer(TarBuilder().file("f", b"data").hardlink("f", "f").stream(), target)
    assert (target / "f").read_bytes() == b"data"


def test_a_hardlink_to_a_file_inside_the_directory_it_replaces_is_corrupt(target):
    layer = TarBuilder().dir("a").file("a/f", b"data").hardlink("a", "a/f").bytes()
    with pytest.raises(CorruptContent, match="which the layer removed"):
        apply_layer(io.BytesIO(layer), target)


def test_a_verified_diff_id_is_reported_with_the_content_size(target):
    layer = TarBuilder().file("a", b"x" * 5000).bytes()
    known = "sha256:" + hashlib.sha256(layer).hexdigest()
    stats = apply_layer(io.BytesIO(layer), target, verified_diff_id=known)
    assert (stats.diff_id, stats.size, stats.files, stats.tar_size) == (known, 5000, 1, len(layer))
    assert (target / "a").read_bytes() == b"x" * 5000


def test_a_default_acl_on_the_target_itself_does_not_change_file_modes(target):
    try:
        os.setxattr(target, "system.posix_acl_default", _default_acl(7, 5, 0).encode("utf-8", "surrogateescape"))
    except OSError:
        pytest.skip("this filesystem keeps no POSIX ACLs")
    apply_layer(TarBuilder().file("f", b"x", mode=0o644).stream(), target)
    assert os.stat(target / "f").st_mode & 0o7777 == 0o644
