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
