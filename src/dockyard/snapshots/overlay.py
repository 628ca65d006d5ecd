"""The overlay snapshotter: each layer is an overlayfs lower dir holding only its own changes.

Applying a layer writes straight into its own directory with overlay-format whiteouts, so no
mount is needed to unpack, and layers are shared by every image and container above them.
"""

from __future__ import annotations

from pathlib import Path

from dockyard import rootless
from dockyard.snapshots.base import Mount, Snapshotter


class OverlaySnapshotter(Snapshotter):
    name = "overlay"
    whiteout_mode = "overlay"

    @staticmethod
    def stacked(lowers: list[str], upper: str, work: str) -> Mount:
        """The mount of a writable `upper` over `lowers` (topmost first)."""
        options = [f"lowerdir={':'.join(lowers)}", f"upperdir={upper}", f"workdir={work}", "index=off"]
        if rootless.active():  # in a user namespace overlay keeps its marks in user.overlay.* xattrs
            options.append("userxattr")
        return Mount("overlay", "overlay", options)

    def _fill_active(self, path: Path, parent: str) -> None:
        (path / "work").mkdir()

    def lower_dirs(self, key: str) -> list[str]:
        return [str(self.root / s.dir / "fs") for s in self.chain(key)]

    def mounts(self, key: str) -> list[Mount]:
        snap = self.need(key)
        if snap.kind == "committed":
            return [Mount("bind", str(self.root / snap.dir / "fs"), ["rbind", "ro"])]
        own = self.root / snap.dir
        if not snap.parent:
            return [Mount("bind", str(own / "fs"), ["rbind", "rw"])]
        return [self.stacked(self.lower_dirs(snap.parent), str(own / "fs"), str(own / "work"))]
