"""What a layer declares cannot exhaust the host: sparse entries are written with holes, ids
outside the kernel's range are refused by name, and a stream that never ends is cut off."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile

import pytest

from dockyard.errors import CorruptContent, NoSpace
from dockyard.layers.apply import apply_layer
from dockyard.store.space import Reserve
from tests.helpers.layertars import TarBuilder
from tests.helpers.smallfs import small_tmpfs, used

pytestmark = pytest.mark.root

GIB = 1 << 30
SIZE = 10 * GIB
HEAD, TAIL = b"h" * 4096, b"tail"


def sparse_layer(version: str) -> bytes:
    return (TarBuilder().file("before", b"1").sparse("big", SIZE, [(8192, HEAD), (SIZE - 4, TAIL)], version)
            .file("after", b"2").bytes())


def assert_holes(path, size: int = SIZE) -> None:
    st = os.stat(path)
    assert st.st_size == size
    assert st.st_blocks * 512 < 1 << 20, f"{st.st_blocks * 512} bytes allocated for a sparse file"
    with open(path, "rb") as f:
        assert f.read(8192) == bytes(8192)
        assert f.read(4096) == HEAD
        f.seek(size - 4)
        assert f.read() == TAIL


@pytest.fixture
def fs(tmp_path):
    """A 64 MiB filesystem: a layer that is not written sparse fills it (and fails) at once."""
    with small_tmpfs(tmp_path / "fs") as path:
        yield path


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0", "gnu"])
def test_sparse_formats_are_written_with_holes(fs, version):
    layer = sparse_layer(version)
    assert len(layer) < 20_000
    before = used(fs)
    stats = apply_layer(io.BytesIO(gzip.compress(layer)), fs, whiteout_mode="delete")
    assert stats.files == 3
    assert_holes(fs / "big")
    assert (fs / "before").read_bytes() == b"1" and (fs / "after").read_bytes() == b"2"
    assert used(fs) - before < 64 << 10  # the filesystem agrees: kilobytes, not gigabytes


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0"])
def test_gnu_tar_sparse_output(fs, version):
    """What GNU tar itself writes from a sparse file unpacks sparse and byte for byte."""
    src = fs / "src"
    src.mkdir()
    with open(src / "big", "wb") as f:
        f.truncate(SIZE)
        f.seek(8192)
        f.write(HEAD)
        f.seek(SIZE - 4)
        f.write(TAIL)
    tar = fs / "layer.tar"
    subprocess.run(["tar", "-C", src, "--sparse", f"--sparse-version={version}", "-H", "pax", "-cf", tar, "big"],
                   check=True)
    out = fs / "out"
    out.mkdir()
    with open(tar, "rb") as f:
        apply_layer(f, out, whiteout_mode="delete")
    assert_holes(out / "big")


@pytest.mark.parametrize("regions, match", [
    ([(8192, HEAD), (4096, TAIL)], "invalid sparse map"),          # out of order
    ([(SIZE - 2, TAIL)], "invalid sparse map"),                    # past the end
])
def test_bad_sparse_maps_are_refused(tmp_path, regions, match):
    layer = TarBuilder().sparse("big", SIZE, regions, "0.1").bytes()
    with pytest.raises(CorruptContent, match=match):
        apply_layer(io.BytesIO(layer), tmp_path, whiteout_mode="delete")


def test_sparse_map_naming_more_data_than_stored_is_refused(tmp_path):
    layer = bytearray(TarBuilder().sparse("big", SIZE, [(0, HEAD)], "0.1").bytes())
    at = layer.index(b"GNU.sparse.map=0,4096")
    layer[at:at + 21] = b"GNU.sparse.map=0,9096"
    with pytest.raises(CorruptContent, match="more data than the layer holds"):
        apply_layer(io.BytesIO(bytes(layer)), tmp_path, whiteout_mode="delete")


@pytest.mark.parametrize("field, value", [("uid", 2**32 - 1), ("gid", 2**32), ("uid", 2**40), ("gid", -5)])
def test_ids_outside_the_kernel_range_are_refused_by_name(tmp_path, field, value):
    b = TarBuilder().file("ok", b"x")
    info = tarfile.TarInfo("etc/odd-owner")
    setattr(info, field, value)
    b.tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(CorruptContent, match=rf"'etc/odd-owner' has {field} {value}, outside 0\.\.4294967294"):
        apply_layer(io.BytesIO(b.bytes()), tmp_path, whiteout_mode="delete")


def test_largest_ids_are_taken(tmp_path):
    b = TarBuilder().file("top", b"x", uid=2**32 - 2, gid=2**32 - 2)
    apply_layer(io.BytesIO(b.bytes()), tmp_path, whiteout_mode="delete")
    st = os.stat(tmp_path / "top")
    assert (st.st_uid, st.st_gid) == (2**32 - 2, 2**32 - 2)


def test_endless_zeros_after_the_archive_are_cut_off(tmp_path):
    """A small gzip of a tiny tar followed by gigabytes of zeros would be hashed for ever."""
    import zlib

    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    gz = comp.compress(TarBuilder().file("a", b"x").bytes())
    zeros = bytes(1 << 20)
    gz += b"".join(comp.compress(zeros) for _ in range(200)) + comp.flush()
    assert len(gz) < 1 << 20
    with pytest.raises(CorruptContent, match="after its end"):
        apply_layer(io.BytesIO(gz), tmp_path, whiteout_mode="delete")


def test_guard_stops_a_file_bigger_than_the_room_left(tmp_path):
    st = os.statvfs(tmp_path)
    reserve = Reserve(str(tmp_path), fixed=st.f_bavail * st.f_frsize - (16 << 20))  # 16 MiB of room left
    b = TarBuilder().file("small", b"x")
    b.tar.addfile(tarfile.TarInfo("huge"), io.BytesIO())  # a header declaring 64 MiB, data never read
    layer = bytearray(b.bytes())
    at = layer.index(b"huge")
    layer[at + 124:at + 136] = tarfile.itn(64 << 20, 12, tarfile.USTAR_FORMAT)
    layer[at + 148:at + 156] = b" " * 8
    layer[at + 148:at + 156] = b"%06o\0 " % sum(layer[at:at + 512])
    with pytest.raises(NoSpace, match=r"^layer x: (refused: it needs 64\.0 MiB|stopped after writing)"):
        apply_layer(io.BytesIO(bytes(layer)), tmp_path, whiteout_mode="delete", guard=reserve.guard("layer x"))
    assert not (tmp_path / "huge").exists()


def test_load_refuses_an_out_of_range_owner_in_one_line(dy):
    from tests.helpers.archives import classic_docker_archive

    b = TarBuilder().file("ok", b"x")
    info = tarfile.TarInfo("usr/bin/odd")
    info.uid = 2**32 + 7
    b.tar.addfile(info, io.BytesIO(b""))
    r = dy("load", input=classic_docker_archive([b.bytes()], ["odd:1"]), check=False)
    assert r.code == 125
    assert r.err.strip().splitlines() == [
        "Error: layer entry 'usr/bin/odd' has uid 4294967303, outside 0..4294967294; refusing the layer"]
    assert dy("images", "-q").out == ""
    assert "store is clean" in dy("system", "check").out


def test_a_huge_header_record_is_refused_before_it_is_read(tmp_path):
    """A GNU long name of 256 MiB (zeros, so a small gzip) would be read into memory at once."""
    import zlib

    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = tarfile.GNUTYPE_LONGNAME, 256 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    gz = comp.compress(info.tobuf(tarfile.GNU_FORMAT)) + b"".join(comp.compress(bytes(1 << 20)) for _ in range(256))
    gz += comp.flush()
    with pytest.raises(CorruptContent, match="header record of 268435456 bytes"):
        apply_layer(io.BytesIO(gz), tmp_path, whiteout_mode="delete")


def test_data_in_entries_that_hold_none_is_refused_before_it_is_read(tmp_path):
    """A whiteout declaring 1 TiB of data: nothing is written, and it is not hashed for ever."""
    b = TarBuilder().file("ok", b"x")
    info = tarfile.TarInfo("dir/.wh.gone")
    b.tar.addfile(info, io.BytesIO())
    layer = bytearray(b.bytes())
    at = layer.index(b"dir/.wh.gone")
    layer[at + 124:at + 136] = tarfile.itn(1 << 40, 12, tarfile.GNU_FORMAT)
    layer[at + 148:at + 156] = b" " * 8
    layer[at + 148:at + 156] = b"%06o\0 " % sum(layer[at:at + 512])
    with pytest.raises(CorruptContent, match="more than 64 MiB of data in entries that hold none"):
        apply_layer(io.BytesIO(bytes(layer)), tmp_path, whiteout_mode="delete")
