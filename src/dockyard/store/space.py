"""A reserve of free space that unpacking and ingesting never eat into.

A layer says nothing trustworthy about what it will take on disk: a 2 KB gzip blob can
unpack to gigabytes, and a pull or load can simply be larger than the disk. So every writer
of the store (blob ingest, layer unpack) carries a `SpaceGuard` and reports the bytes it
writes; every few megabytes the guard asks the filesystem (one `statvfs`) how much is left,
and stops the operation with `NoSpace` before the free space falls below the root's
`min-free-space` (daemon.json: bytes with a unit, "1GiB", or a percentage of the
filesystem, "5%"; 0 turns the guard off). A write that still meets a full disk (ENOSPC,
another process filling it) becomes the same one-line `NoSpace`.
"""

from __future__ import annotations

import errno
import os
import re

from dockyard.errors import InvalidArgument, NoSpace
from dockyard.plainclass import plainclass

#: Bytes written between two looks at the filesystem, while far from the reserve.
CHECK_EVERY = 16 << 20
#: Without a setting: 1 GiB, or 5% of a filesystem smaller than 20 GiB.
DEFAULT_BYTES = 1 << 30
DEFAULT_PERCENT = 5.0
_FULL = (errno.ENOSPC, errno.EDQUOT)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$", re.I)
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")


def human(n: float) -> str:
    """`n` bytes as a person reads them: 512 B, 1.0 GiB."""
    if abs(n) < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if abs(n) < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} TiB"


def is_full(exc: BaseException) -> bool:
    """Whether `exc` is the filesystem saying it is full (ENOSPC, or a quota's EDQUOT)."""
    return isinstance(exc, OSError) and exc.errno in _FULL


@plainclass(frozen=True)
class Reserve:
    """The free space to keep on the filesystem holding `path`: `fixed` bytes, or `percent`
    of its size; `setting` is how daemon.json put it, for messages."""

    path: str
    fixed: int = 0
    percent: float = 0.0
    setting: str = "0"

    @classmethod
    def parse(cls, path: str | os.PathLike, value: object, where: str = "daemon.json") -> Reserve:
        """From daemon.json's `min-free-space` (None: the default)."""
        path = os.fspath(path)
        if value is None:
            return cls(path, DEFAULT_BYTES, DEFAULT_PERCENT, "1GiB (at most 5%)")
        text = str(value).strip()
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return cls(path, value, 0.0, text)
        if isinstance(value, str):
            m = _PERCENT.match(text)
            if m and float(m.group(1)) < 100:
                return cls(path, 0, float(m.group(1)), text)
            m = _SIZE.match(text)
            if m:
                return cls(path, int(float(m.group(1)) * _UNITS[m.group(2).lower()]), 0.0, text)
        raise InvalidArgument(f"invalid min-free-space {value!r} in {where}: use a size such as \"1GiB\", "
                              "a percentage of the filesystem such as \"5%\", or 0 to turn the check off")

    @property
    def enabled(self) -> bool:
        return bool(self.fixed or self.percent)

    def keep(self, st: os.statvfs_result) -> int:
        """Bytes to keep free on the filesystem `st` describes."""
        by_percent = int(st.f_blocks * st.f_frsize * self.percent / 100)
        if self.fixed and self.percent:
            return min(self.fixed, by_percent)
        return self.fixed or by_percent

    def guard(self, what: str) -> SpaceGuard:
        return SpaceGuard(self, what)


class SpaceGuard:
    """What one operation (`what`: "layer sha256:...", "blob sha256:...") writes, checked
    against the reserve: `charge` each write, `require` what is known to come."""

    def __init__(self, reserve: Reserve, what: str) -> None:
        self.reserve = reserve
        self.what = what
        self.written = 0
        self._until_check = 0  # the first charge looks at the filesystem

    def charge(self, n: int) -> None:
        """Account for `n` bytes about to be written; when the bytes since the last look add
        up, look again (the look requires those `n` too: a huge file is refused up front)."""
        self._until_check -= n
        if self._until_check <= 0 and self.reserve.enabled:
            self.require(n)
        self.written += n

    def require(self, more: int) -> None:
        """Raise NoSpace unless `more` bytes fit above the reserve."""
        if not self.reserve.enabled:
            return
        st = os.statvfs(self.reserve.path)
        free = st.f_bavail * st.f_frsize
        keep = self.reserve.keep(st)
        if free - more < keep:
            raise NoSpace(self._message(free, keep, more))
        # the next look comes sooner as the reserve gets nearer (other writers run meanwhile)
        self._until_check = max(min(CHECK_EVERY, (free - more - keep) // 4), 64 << 10)

    def _message(self, free: int, keep: int, more: int) -> str:
        if not self.written:
            done = f"refused: it needs {human(more)}" if more else "refused"
        else:
            done = f"stopped after writing {human(self.written)}" + (f", needing {human(more)} more" if more else "")
        return (f"{self.what}: {done}, with {human(free)} free on {self.reserve.path}, where min-free-space "
                f"({self.reserve.setting}) keeps {human(keep)}; free some space or lower min-free-space in daemon.json")

    def full(self) -> NoSpace:
        """The NoSpace error for a write that met a full disk."""
        return disk_full(self.what, self.reserve.path)


def disk_full(what: str, path: str | os.PathLike) -> NoSpace:
    """NoSpace for `what`, whose write met a full disk (ENOSPC) under `path`."""
    return NoSpace(f"{what}: no space left on device under {os.fspath(path)}; free some space and try again")
