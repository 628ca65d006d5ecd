import bz2
import io
import lzma
import os
import tracemalloc

import pytest

from dockyard.errors import CorruptContent, InvalidArgument
from dockyard.layers.compression import detect, open_reader, open_writer

PAYLOAD = os.urandom(300_000) + b"\0" * 2_000_000 + b"layer" * 50_000


def compress(data: bytes, kind: str, level: int | None = None) -> bytes:
    buf = io.BytesIO()
    with open_writer(buf, kind, level) as w:
        w.write(data)
    assert not buf.closed
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["gzip", "zstd", ""])
def test_roundtrip_detects_and_restores(kind):
    blob = compress(PAYLOAD, kind)
    assert detect(blob[:8]) == kind
    reader = open_reader(io.BytesIO(blob))
    assert reader.compression == kind
    assert reader.read() == PAYLOAD


def test_gzip_output_is_reproducible_even_into_a_named_file(tmp_path):
    outputs = []
    for i in range(2):
        with open(tmp_path / f"out{i}.gz", "wb") as f, open_writer(f, "gzip") as w:
            w.write(PAYLOAD)
        outputs.append((tmp_path / f"out{i}.gz").read_bytes())
    assert outputs[0] == outputs[1]


def test_xz_and_bzip2_are_read():
    assert open_reader(io.BytesIO(lzma.compress(PAYLOAD))).read() == PAYLOAD
    assert open_reader(io.BytesIO(bz2.compress(PAYLOAD))).read() == PAYLOAD


def test_concatenated_zstd_frames_read_as_one_stream():
    blob = compress(b"first|", "zstd") + compress(b"second", "zstd")
    assert open_reader(io.BytesIO(blob)).read() == b"first|second"


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz"])
@pytest.mark.parametrize("keep", [0.5, -1, 10])
def test_truncated_stream_is_corrupt_content(kind, keep):
    blob = lzma.compress(PAYLOAD) if kind == "xz" else compress(PAYLOAD, kind)
    cut = int(len(blob) * keep) if isinstance(keep, float) else keep
    with pytest.raises(CorruptContent, match=f"{kind} stream is truncated"):
        open_reader(io.BytesIO(blob[:cut])).read()


def test_garbled_gzip_is_corrupt_content():
    blob = bytearray(compress(PAYLOAD, "gzip"))
    blob[40:200] = b"\xff" * 160
    with pytest.raises(CorruptContent, match="gzip stream is corrupt"):
        open_reader(io.BytesIO(bytes(blob))).read()


def test_highly_compressed_zstd_is_read_in_bounded_memory():
    blob = compress(b"\0" * (64 << 20), "zstd")
    assert len(blob) < 10_000
    tracemalloc.start()
    try:
        reader = open_reader(io.BytesIO(blob))
        total = 0
        while chunk := reader.read(1 << 20):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 64 << 20
    assert peak < 16 << 20


def test_out_of_range_level_is_refused():
    with pytest.raises(InvalidArgument, match="gzip level 9"):
        open_writer(io.BytesIO(), "gzip", 9)
    with pytest.raises(InvalidArgument, match="cannot write"):
        open_writer(io.BytesIO(), "lz4")


def test_short_uncompressed_stream_is_passed_through():
    assert open_reader(io.BytesIO(b"ab")).read() == b"ab"
