"""Layer compression: recognise it by magic bytes, read through it, write with it.

Registries serve layers gzip- or zstd-compressed, `import` and `ADD` also meet xz and bzip2,
and the media type is not always trustworthy (Docker archives say "tar" for gzip blobs), so
readers decide from the bytes themselves. gzip goes through `isal`, several times faster than
zlib on both sides; zstd through `zstandard`. Every reader turns a truncated or corrupt stream
into `CorruptContent`, because a silently short layer would become a silently wrong rootfs.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Callable

from dockyard.errors import CorruptContent, InvalidArgument

GZIP = "gzip"
ZSTD = "zstd"
XZ = "xz"
BZIP2 = "bzip2"
NONE = ""

_MAGIC = (
    (b"\x1f\x8b", GZIP),
    (b"\x28\xb5\x2f\xfd", ZSTD),
    (b"\xfd7zXZ\x00", XZ),
    (b"BZh", BZIP2),
)
_MAGIC_LEN = max(len(m) for m, _ in _MAGIC)

#: isal's levels run 0..3; 1 compresses about as well as zlib's 6 at a fraction of the time.
DEFAULT_GZIP_LEVEL = 1
DEFAULT_ZSTD_LEVEL = 3

def detect(head: bytes) -> str:
    """The compression a stream starts with: 'gzip', 'zstd', 'xz', 'bzip2' or '' for none."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return NONE


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read to sniff its magic, put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._rest, "readinto", None)
        if readinto is not None:  # straight into the caller's buffer: no allocation per read
            return readinto(buf)
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _ZstdFrames:
    """Follows the zstd frame structure of the compressed bytes, to tell where frames end.

    zstandard's stream_reader returns a clean EOF when its input stops inside a frame, so the
    compressed bytes are also fed through this walker: headers and block sizes only, no
    decompression (RFC 8878 section 3.1).
    """

    def __init__(self) -> None:
        self._buf = b""
        self._need = 0  # bytes to skip before the next structure to parse
        self._state = "magic"
        self._checksum = False

    @property
    def at_boundary(self) -> bool:
        return self._state == "magic" and not self._need and not self._buf

    def feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            if self._need:
                skip = min(self._need, len(self._buf))
                self._buf = self._buf[skip:]
                self._need -= skip
                if self._need:
                    return
            if not self._step():
                return

    def _step(self) -> bool:
        buf = self._buf
        if self._state == "magic":
            if len(buf) < 8 and not (len(buf) >= 5 and buf[:4] == b"\x28\xb5\x2f\xfd"):
                return False
            magic = int.from_bytes(buf[:4], "little")
            if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame: magic, size, payload
                self._buf, self._need = buf[8:], int.from_bytes(buf[4:8], "little")
                return True
            if buf[:4] != b"\x28\xb5\x2f\xfd":
                raise CorruptContent("zstd stream is corrupt (bad frame magic); fetch the layer again")
            fhd = buf[4]
            single = (fhd >> 5) & 1
            fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
            self._checksum = bool(fhd & 4)
            self._buf, self._need = buf[5:], (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
            self._state = "block"
            return True
        if len(buf) < 3:
            return False
        header = int.from_bytes(buf[:3], "little")
        kind, size = (header >> 1) & 3, header >> 3
        if kind == 3:
            raise CorruptContent("zstd stream is corrupt (reserved block type); fetch the layer again")
        self._buf, self._need = buf[3:], 1 if kind == 1 else size
        if header & 1:  # last block of the frame
            self._need += 4 if self._checksum else 0
            self._state = "magic"
        return True


class _FrameCheckedSource:
    """The compressed bytes zstandard reads, shown to the frame walker on the way."""

    def __init__(self, src: BinaryIO, frames: _ZstdFrames) -> None:
        self._src = src
        self._frames = frames

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        self._frames.feed(data)
        return data


class _ZstdReader(io.RawIOBase):
    """zstd frames one after another, refusing a stream that stops inside a frame."""

    def __init__(self, src: BinaryIO) -> None:
        import zstandard

        self._frames = _ZstdFrames()
        source = _FrameCheckedSource(src, self._frames)
        self._inner = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True, closefd=False)
        self._error = zstandard.ZstdError

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        try:
            data = self._inner.read(len(buf))
        except self._error as exc:
            raise CorruptContent(f"zstd stream is corrupt ({exc}); fetch the layer again") from None
        if not data and len(buf) and not self._frames.at_boundary:
            raise CorruptContent("zstd stream is truncated: it ends inside a frame; fetch the layer again")
        buf[: len(data)] = data
        return len(data)


class _Guarded(io.RawIOBase):
    """Turns a decompressor's own exceptions into `CorruptContent` with one clear line."""

    def __init__(self, inner: BinaryIO, kind: str, errors: tuple[type[BaseException], ...]) -> None:
        self._inner = inner
        self._kind = kind
        self._errors = errors

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        try:
            data = self._inner.read(len(buf))
        except EOFError:
            raise CorruptContent(f"{self._kind} stream is truncated; fetch the layer again") from None
        except self._errors as exc:
            raise CorruptContent(f"{self._kind} stream is corrupt ({exc}); fetch the layer again") from None
        buf[: len(data)] = data
        return len(data)


def _open_gzip(src: BinaryIO) -> BinaryIO:
    from isal import igzip, igzip_lib

    inner = igzip.IGzipFile(fileobj=src, mode="rb")
    return _Guarded(inner, GZIP, (igzip.BadGzipFile, igzip_lib.IsalError, OSError))


def _open_xz(src: BinaryIO) -> BinaryIO:
    import lzma

    return _Guarded(lzma.LZMAFile(src), XZ, (lzma.LZMAError,))


def _open_bzip2(src: BinaryIO) -> BinaryIO:
    import bz2

    return _Guarded(bz2.BZ2File(src), BZIP2, (OSError, ValueError))


_OPENERS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    GZIP: _open_gzip,
    ZSTD: _ZstdReader,
    XZ: _open_xz,
    BZIP2: _open_bzip2,
}


class Decompressed(io.BufferedReader):
    """The uncompressed bytes of a stream, with the `compression` that was found."""

    def __init__(self, raw: io.RawIOBase, compression: str) -> None:
        super().__init__(raw, buffer_size=1 << 20)
        self.compression = compression


def open_reader(stream: BinaryIO) -> Decompressed:
    """Read `stream` uncompressed, whatever of gzip, zstd, xz, bzip2 or nothing it uses.

    The returned reader never closes `stream`; closing it stays the caller's business.
    """
    head = b""
    while len(head) < _MAGIC_LEN:
        more = stream.read(_MAGIC_LEN - len(head))
        if not more:
            break
        head += more
    kind = detect(head)
    src = _Prefixed(head, stream)
    raw = src if kind == NONE else _OPENERS[kind](src)
    return Decompressed(raw, kind)


class _Unclosing(io.RawIOBase):
    """Pass-through writer whose close leaves the underlying stream open."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._out.write(data)
        return len(data)


def open_writer(out: BinaryIO, compression: str = GZIP, level: int | None = None) -> BinaryIO:
    """A writer that compresses into `out`; closing it finishes the stream but not `out`.

    gzip output carries no name and mtime 0, so equal input gives equal bytes (and digests).
    `level` is isal's 0-3 for gzip and zstd's 1-22 for zstd.
    """
    if compression == NONE:
        return _Unclosing(out)
    if compression == GZIP:
        from isal import igzip

        level = DEFAULT_GZIP_LEVEL if level is None else level
        if not 0 <= level <= 3:
            raise InvalidArgument(f"gzip level {level} is out of range: use 0 (fastest) to 3 (smallest)")
        return igzip.IGzipFile(filename="", fileobj=out, mode="wb", compresslevel=level, mtime=0)
    if compression == ZSTD:
        import zstandard

        level = DEFAULT_ZSTD_LEVEL if level is None else level
        if not 1 <= level <= 22:
            raise InvalidArgument(f"zstd level {level} is out of range: use 1 (fastest) to 22 (smallest)")
        return zstandard.ZstdCompressor(level=level).stream_writer(out, closefd=False)
    raise InvalidArgument(f"cannot write {compression or 'unknown'} compression: use gzip, zstd or none")
