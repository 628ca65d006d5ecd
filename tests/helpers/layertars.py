"""Build small layer tars in memory, entry by entry, the way a hostile or odd tool might."""

from __future__ import annotations

import io
import os
import tarfile


class TarBuilder:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name: str, kind: bytes, mode: int, mtime: int, **extra) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, mode, mtime
        info.uid, info.gid = os.getuid(), os.getgid()
        for key, value in extra.items():
            setattr(info, key, value)
        return info

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, mtime: int = 1_600_000_000, **extra) -> "TarBuilder":
        info = self._info(name, tarfile.REGTYPE, mode, mtime, size=len(data), **extra)
        self.tar.addfile(info, io.BytesIO(data))
        return self

    def dir(self, name: str, mode: int = 0o755, mtime: int = 1_600_000_000, **extra) -> "TarBuilder":
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, mtime, **extra))
        return self

    def symlink(self, name: str, target: str, mtime: int = 1_600_000_000) -> "TarBuilder":
        self.tar.addfile(self._info(name, tarfile.SYMTYPE, 0o777, mtime, linkname=target))
        return self

    def hardlink(self, name: str, target: str) -> "TarBuilder":
        self.tar.addfile(self._info(name, tarfile.LNKTYPE, 0o644, 1_600_000_000, linkname=target))
        return self

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buf.getvalue()

    def stream(self) -> io.BytesIO:
        return io.BytesIO(self.bytes())

    def sparse(self, name: str, size: int, regions: list[tuple[int, bytes]], version: str = "1.0") -> "TarBuilder":
        """A sparse file of `size` bytes holding `regions` (offset, data) and holes elsewhere, in
        GNU tar's format `version`: "0.0", "0.1", "1.0" (PAX) or "gnu" (the old GNU header).
        As GNU tar writes them, each region but the last should be a multiple of 512 bytes
        (GNU tar reads each region from a block boundary; tarfile and Go read them end to end)."""
        data = b"".join(d for _, d in regions)
        if version == "gnu":
            return self._old_gnu_sparse(name, size, regions, data)
        records = {"0.0": [("GNU.sparse.size", str(size)), ("GNU.sparse.numblocks", str(len(regions)))]
                   + [pair for off, d in regions for pair in (("GNU.sparse.offset", str(off)),
                                                              ("GNU.sparse.numbytes", str(len(d))))],
                   "0.1": [("GNU.sparse.size", str(size)), ("GNU.sparse.numblocks", str(len(regions))),
                           ("GNU.sparse.map", ",".join(f"{off},{len(d)}" for off, d in regions))],
                   "1.0": [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", name),
                           ("GNU.sparse.realsize", str(size))]}[version]
        if version == "1.0":  # the map leads the data, padded to a block
            head = f"{len(regions)}\n" + "".join(f"{off}\n{len(d)}\n" for off, d in regions)
            data = head.encode().ljust(-(-len(head) // 512) * 512, b"\0") + data
            name = f"./GNUSparseFile.0/{name}"
        self._raw_pax(records)
        self.tar.addfile(self._info(name, tarfile.REGTYPE, 0o644, 1_600_000_000, size=len(data)), io.BytesIO(data))
        return self

    def _raw_pax(self, records: list[tuple[str, str]]) -> None:
        """A PAX extended header with `records` as given (keys may repeat, as sparse 0.0 needs)."""
        body = b""
        for key, value in records:
            rec = f" {key}={value}\n".encode()
            n = len(rec) + 1
            while len(str(n)) + len(rec) != n:
                n = len(str(n)) + len(rec)
            body += str(n).encode() + rec
        self.tar.addfile(self._info("././@PaxHeader", tarfile.XHDTYPE, 0o644, 0, size=len(body)), io.BytesIO(body))

    def _old_gnu_sparse(self, name: str, size: int, regions: list[tuple[int, bytes]], data: bytes) -> "TarBuilder":
        if len(regions) > 3:
            raise ValueError("the old GNU header holds 4 regions, the last an empty one at the end (as GNU tar "
                             "writes it); extension blocks are not written here")
        info = self._info(name, tarfile.GNUTYPE_SPARSE, 0o644, 1_600_000_000, size=len(data))
        buf = bytearray(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")[-512:])
        for i, (off, n) in enumerate([(off, len(d)) for off, d in regions] + [(size, 0)]):
            buf[386 + 24 * i:398 + 24 * i] = tarfile.itn(off, 12, tarfile.GNU_FORMAT)
            buf[398 + 24 * i:410 + 24 * i] = tarfile.itn(n, 12, tarfile.GNU_FORMAT)
        buf[482] = 0
        buf[483:495] = tarfile.itn(size, 12, tarfile.GNU_FORMAT)
        buf[148:156] = b" " * 8
        buf[148:156] = b"%06o\0 " % sum(buf)
        self.tar.fileobj.write(bytes(buf) + data + b"\0" * (-len(data) % 512))
        self.tar.offset += 512 + len(data) + (-len(data) % 512)
        return self
