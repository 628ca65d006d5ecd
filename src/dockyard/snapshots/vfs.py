"""The vfs snapshotter: every snapshot is a full copy of its parent.

Slower and bigger than overlay, but it works on any filesystem (and inside containers where
overlay cannot be mounted), which is why Docker keeps it as the fallback too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.snapshots.base import Mount, Snapshotter


def copy_tree(src: Path, dst: Path) -> None:
    """cp -a keeps hardlinks, xattrs, devices and ownership, and reflinks where the fs can."""
    r = subprocess.run(["cp", "-a", "--reflink=auto", f"{src}/.", str(dst)], capture_output=True, text=True)
    if r.returncode:
        raise DockyardError(f"copying snapshot {src} failed: {r.stderr.strip()}")


class VfsSnapshotter(Snapshotter):
    name = "vfs"
    whiteout_mode = "delete"

    def _fill_layer(self, fs: Path, parent: str) -> None:
        copy_tree(self.fs(parent), fs)

    def _fill_active(self, path: Path, parent: str) -> None:
        if parent:
            copy_tree(self.fs(parent), path / "fs")

    def mounts(self, key: str) -> list[Mount]:
        snap = self.need(key)
        ro = "ro" if snap.kind == "committed" else "rw"
        return [Mount("bind", str(self.root / snap.dir / "fs"), ["rbind", ro])]
