"""A small filesystem of its own for a test that fills disks: a tmpfs, always unmounted."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def small_tmpfs(path: Path, size: str = "64m") -> Iterator[Path]:
    """Mount a tmpfs of `size` at `path` (created) for the block; unmounted whatever happens,
    lazily if something still holds it."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def used(path: Path) -> int:
    """Bytes in use on the filesystem holding `path` (statvfs)."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave: int) -> Path:
    """A file under `path` that leaves about `leave` bytes free on its filesystem."""
    ballast = path / "ballast"
    with open(ballast, "wb") as f:
        n = free(path) - leave
        chunk = bytes(1 << 20)
        while n > 0:
            n -= f.write(chunk[:min(n, len(chunk))])
    return ballast
