"""The fuse-overlayfs snapshotter: overlay's layers, merged by the fuse-overlayfs program.

For a user namespace whose kernel refuses overlayfs (before 5.11). Layers on disk are the
overlay snapshotter's, so everything that reads them is shared; only the mount differs: a
fuse-overlayfs process serves each container's rootfs until it is unmounted, and writes
opaque directories its own way (layers/whiteouts.py).
"""

from __future__ import annotations

import os

from dockyard.snapshots.base import Mount
from dockyard.snapshots.overlay import OverlaySnapshotter

#: The program, as podman's `mount_program`: a path, or a name looked up on $PATH.
PROGRAM_ENV = "DOCKYARD_FUSE_OVERLAYFS"


def program() -> str:
    return os.environ.get(PROGRAM_ENV) or "fuse-overlayfs"


class FuseOverlaySnapshotter(OverlaySnapshotter):
    name = "fuse-overlayfs"

    @staticmethod
    def stacked(lowers: list[str], upper: str, work: str) -> Mount:
        return Mount("fuse-overlayfs", "fuse-overlayfs",
                     [f"lowerdir={':'.join(lowers)}", f"upperdir={upper}", f"workdir={work}"])
