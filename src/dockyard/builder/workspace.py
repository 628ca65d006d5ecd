"""A writable root filesystem for one build step, and turning what the step changed into a layer.

Each RUN, COPY or ADD gets an active snapshot on the current layer, mounted at a private
mountpoint. When the step succeeds its changes become a layer blob and, without copying,
the snapshot itself becomes the committed snapshot of that layer (for overlay the upper dir
already is the layer in overlay form; for vfs the full copy is what a vfs layer holds), so
the next step starts from it without unpacking anything.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from dockyard.builder.unfinished import Marker
from dockyard.errors import Conflict
from dockyard.oci.image import chain_id
from dockyard.snapshots.mount import mount, unmount


@dataclass(frozen=True)
class Committed:
    """The layer a step produced: its blob descriptor, diff_id, and the chain ID after it."""

    descriptor: dict
    diff_id: str
    chain: str


class Workspace:
    """`with Workspace(engine, parent) as ws:` mounts a writable rootfs at `ws.rootfs`;
    `ws.commit()` makes a layer of the changes (None when there are none). Whatever happens,
    leaving the block unmounts and removes everything that was not committed."""

    def __init__(self, engine, parent: str, *, clamp_mtime: int | None = None) -> None:
        self.engine = engine
        self.parent = parent
        self.clamp = clamp_mtime
        self.key = f"build-{secrets.token_hex(16)}"
        self.marker = Marker(engine.root, self.key)
        self.rootfs = ""
        self._mounted = False

    def __enter__(self) -> Self:
        self.marker.write()  # before anything exists, so a killed build's leftovers are found
        try:
            mounts = self.engine.snapshots.prepare(self.key, self.parent)
            self.rootfs = self.marker.scratch("build")
            mount(mounts[0], self.rootfs)
            self._mounted = True
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._mounted:
            unmount(self.rootfs)
            self._mounted = False
        if self.rootfs:
            try:
                os.rmdir(self.rootfs)
            except OSError:
                pass
        if self.engine.snapshots.exists(self.key):
            self.engine.snapshots.remove(self.key)
        self.marker.remove()

    @property
    def upper(self) -> Path:
        """Where the step's own changes are (overlay) or the whole tree (vfs)."""
        return self.engine.snapshots.fs(self.key)

    def commit(self) -> Committed | None:
        from dockyard.images.compose import write_layer
        from dockyard.layers.diff import diff_dirs, diff_overlay

        if self._mounted:
            unmount(self.rootfs)
            self._mounted = False
        snaps = self.engine.snapshots
        upper = self.upper
        overlay = snaps.whiteout_mode == "overlay"
        lower = snaps.fs(self.parent) if self.parent and not overlay else None
        if not _changed(upper, lower, overlay):
            return None
        made = []

        def produce(out):
            stats = diff_overlay(upper, out, clamp_mtime=self.clamp) if overlay else \
                diff_dirs(lower, upper, out, clamp_mtime=self.clamp)
            made.append(stats)
            return stats

        blob = write_layer(self.engine.content, produce)
        key = chain_id(self.parent, blob.diff_id)
        if not snaps.exists(key):
            tmp = snaps.new_tmp()
            os.rmdir(tmp / "fs")
            os.rename(upper, tmp / "fs")
            snaps.remove(self.key)
            try:
                snaps.publish(tmp, key, self.parent, "committed", blob.diff_id, made[0].size, made[0].tar_size)
            except Conflict:  # a parallel stage committed the very same layer first
                shutil.rmtree(tmp, ignore_errors=True)
        return Committed(blob.descriptor, blob.diff_id, key)


def _changed(upper: Path, lower: Path | None, overlay: bool) -> bool:
    if overlay:
        return any(os.scandir(upper))
    from dockyard.layers.changes import dir_deltas
    return next(iter(dir_deltas(lower, upper)), None) is not None


class View:
    """A read-only look at a layer chain (for COPY --from and RUN --mount from=): mounted while
    the block runs, an empty directory for scratch."""

    def __init__(self, engine, chain: str) -> None:
        self.engine, self.chain = engine, chain
        self.workspace: Workspace | None = None
        self.root = ""

    def __enter__(self) -> Self:
        if not self.chain:
            self.root = tempfile.mkdtemp(prefix="dockyard-scratch-")
            return self
        self.workspace = Workspace(self.engine, self.chain).__enter__()
        self.root = self.workspace.rootfs
        return self

    def __exit__(self, *exc: object) -> None:
        if self.workspace is not None:
            self.workspace.__exit__()
        elif self.root:
            shutil.rmtree(self.root, ignore_errors=True)
