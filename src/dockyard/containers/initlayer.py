"""The init layer under every container: empty mount points for what the runtime binds in,
and what Docker's init layer adds besides (/.dockerenv, /etc/mtab -> /proc/mounts).

The runtime mounts /proc, /sys, /dev and the generated /etc/hosts, /etc/hostname and
/etc/resolv.conf over paths that must exist; made here, in a layer of their own, they never
show up as the container's own changes in `diff` or `commit` (`export` has them, as Docker's).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIRS = ("proc", "sys", "dev", "dev/pts", "dev/shm", "etc")
FILES = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console", ".dockerenv")
LINKS = {"etc/mtab": "/proc/mounts"}


def _existing(lowers: list, rel: str) -> os.stat_result | None:
    for lower in lowers:
        try:
            return os.lstat(Path(lower) / rel)
        except FileNotFoundError:
            continue
    return None


def populate(fs: Path, lowers: list) -> None:
    """Create what the image lacks. A directory the image has is made with its owner, mode
    and times: an overlay upper dir's attributes win over the lower one's, so they must match."""
    for rel in DIRS:
        target = fs / rel
        if target.exists() or target.is_symlink():
            continue  # vfs layers hold the whole tree: nothing to add
        st = _existing(lowers, rel)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            continue  # the image has something else there (a symlink): leave it alone
        target.mkdir(mode=0o755)
        if st is not None:
            os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, stat.S_IMODE(st.st_mode))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    for rel in FILES:
        target = fs / rel
        if target.exists() or target.is_symlink() or _existing(lowers, rel) is not None:
            continue
        target.touch(mode=0o755)  # as Docker makes them
    for rel, to in LINKS.items():
        target = fs / rel
        if not (target.exists() or target.is_symlink() or _existing(lowers, rel) is not None):
            target.symlink_to(to)
