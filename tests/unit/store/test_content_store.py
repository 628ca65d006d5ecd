"""The content store publishes a blob only once it is whole and verified."""

from __future__ import annotations

import io
import os

import pytest

from dockyard.errors import CorruptContent, InvalidArgument, NotFound
from dockyard.oci.digest import sha256_digest
from dockyard.store.content import ContentStore


def test_put_read_verify(tmp_path):
    s = ContentStore(tmp_path)
    d = s.put(b"hello")
    assert d == sha256_digest(b"hello")
    assert s.read(d) == b"hello" and s.size(d) == 5 and s.verify(d)
    assert list(s.digests()) == [d]
    assert s.put(b"hello") == d  # idempotent
    assert os.listdir(s.ingest_dir) == []


def test_wrong_digest_leaves_nothing(tmp_path):
    s = ContentStore(tmp_path)
    with pytest.raises(CorruptContent, match="digest mismatch"):
        s.put(b"hello", expected=sha256_digest(b"other"))
    assert list(s.digests()) == [] and os.listdir(s.ingest_dir) == []


def test_wrong_size_leaves_nothing(tmp_path):
    s = ContentStore(tmp_path)
    with pytest.raises(CorruptContent, match="size mismatch"):
        s.put_stream(io.BytesIO(b"abc"), expected_size=4)
    assert list(s.digests()) == []


def test_failed_stream_leaves_nothing(tmp_path):
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise OSError("disk gone")

    s = ContentStore(tmp_path)
    with pytest.raises(OSError):
        s.put_stream(Broken())
    assert os.listdir(s.ingest_dir) == []


def test_missing_and_malformed(tmp_path):
    s = ContentStore(tmp_path)
    with pytest.raises(NotFound):
        s.read(sha256_digest(b"nope"))
    with pytest.raises(InvalidArgument):
        s.path("md5:abc")
    with pytest.raises(InvalidArgument):
        s.path("sha256:../../etc/passwd")


def test_stray_ingest_of_a_dead_process_is_found(tmp_path):
    s = ContentStore(tmp_path)
    (s.ingest_dir / "tmp-999999999-abc").write_bytes(b"half")
    (s.ingest_dir / f"tmp-{os.getpid()}-live").write_bytes(b"mine")
    assert [p.name for p in s.stray_ingests()] == ["tmp-999999999-abc"]
