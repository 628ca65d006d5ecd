"""Snapshotters by name: `overlay` (default) and `vfs` (fallback)."""

from __future__ import annotations

from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.snapshots.base import Mount, Snapshot, Snapshotter
from dockyard.store.metadata import MetadataDB

DRIVERS = ("overlay", "vfs")


def get_snapshotter(name: str, root: str | Path, db: MetadataDB) -> Snapshotter:
    if name == "overlay":
        from dockyard.snapshots.overlay import OverlaySnapshotter
        return OverlaySnapshotter(root, db)
    if name == "vfs":
        from dockyard.snapshots.vfs import VfsSnapshotter
        return VfsSnapshotter(root, db)
    raise InvalidArgument(f"unknown storage driver {name!r}: choose one of {', '.join(DRIVERS)}")


__all__ = ["Mount", "Snapshot", "Snapshotter", "get_snapshotter", "DRIVERS"]
