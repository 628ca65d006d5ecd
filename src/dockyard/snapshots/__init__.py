"""Snapshotters by name: `overlay` (default), `fuse-overlayfs` and `vfs` (fallbacks, picked by
snapshots/probe.py where overlay cannot be mounted)."""

from __future__ import annotations

from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.snapshots.base import Mount, Snapshot, Snapshotter
from dockyard.store.metadata import MetadataDB

DRIVERS = ("overlay", "fuse-overlayfs", "vfs")


def snapshotter_class(name: str) -> type[Snapshotter]:
    if name == "overlay":
        from dockyard.snapshots.overlay import OverlaySnapshotter
        return OverlaySnapshotter
    if name == "fuse-overlayfs":
        from dockyard.snapshots.fuse_overlay import FuseOverlaySnapshotter
        return FuseOverlaySnapshotter
    if name == "vfs":
        from dockyard.snapshots.vfs import VfsSnapshotter
        return VfsSnapshotter
    raise InvalidArgument(f"unknown storage driver {name!r}: choose one of {', '.join(DRIVERS)}")


def get_snapshotter(name: str, root: str | Path, db: MetadataDB) -> Snapshotter:
    return snapshotter_class(name)(root, db)


__all__ = ["Mount", "Snapshot", "Snapshotter", "get_snapshotter", "snapshotter_class", "DRIVERS"]
