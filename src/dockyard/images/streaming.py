"""Layers unpacked while they download.

A pull used to fetch every blob and then unpack the layers one by one: for a Debian base
image that is ~0.4 s of transfer followed by ~1 s of unpacking. Here each layer's bytes also
go, as they arrive, through a pipe to `apply_layer` running in a thread of its own, so the
unpacking overlaps the transfer (and the other core).

Only with the overlay snapshotter, whose layer directories hold their own changes alone
(vfs fills a layer with its parent's tree first), and only for a download that starts at
byte 0 (a resumed partial goes the ordinary way). A stream counts only if its blob then
verified and its tar unpacked to the diff ID the image config names; anything else throws
the scratch layer away, and the image service unpacks that blob from the store as before.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from dockyard.oci.image import chain_id


class LayerStream:
    """One layer applied from a pipe by a thread; the download writes into it, then finishes
    (the blob verified) or aborts. Never raises into the download: a failing applier just
    makes the stream unusable."""

    def __init__(self, tmp: Path, whiteout_mode: str, diff_id: str) -> None:
        self.tmp, self.diff_id = tmp, diff_id
        self.stats = None
        self._finished = False
        read, self._write = os.pipe()
        self._thread = threading.Thread(target=self._apply, args=(read, whiteout_mode), name="dockyard-unpack",
                                        daemon=True)
        self._thread.start()

    def _apply(self, read: int, whiteout_mode: str) -> None:
        from dockyard.layers.apply import apply_layer

        with os.fdopen(read, "rb") as src:
            try:
                self.stats = apply_layer(src, self.tmp / "fs", whiteout_mode=whiteout_mode)
            except Exception:  # a bad tar: the ordinary unpack will say what is wrong with it
                self.stats = None

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view and self._write >= 0:
                view = view[os.write(self._write, view):]
        except OSError:  # the applier stopped early (a bad tar): the blob still downloads
            self._close()

    def finish(self) -> None:
        """The blob is in the store, verified: wait for the applier to end."""
        self._close()
        self._thread.join()
        self._finished = True

    def abort(self) -> None:
        self._close()
        self._thread.join()

    @property
    def usable(self) -> bool:
        return self._finished and self.stats is not None and self.stats.diff_id == self.diff_id

    def _close(self) -> None:
        if self._write >= 0:
            os.close(self._write)
            self._write = -1


class LayerStreams:
    """The streams of one pull, for the image service's unpack to take by chain ID; on exit,
    whatever was not taken is aborted and its scratch layer removed."""

    def __init__(self, snapshots, content) -> None:
        self.snapshots, self.content = snapshots, content
        self._by_key: dict[str, LayerStream] = {}

    def __enter__(self) -> LayerStreams:
        return self

    def __exit__(self, *exc) -> None:
        for stream in self._by_key.values():
            stream.abort()
            shutil.rmtree(stream.tmp, ignore_errors=True)
        self._by_key.clear()

    def sinks(self, config: dict, layers: list[dict]) -> dict[str, LayerStream]:
        """Streams for the layers about to be downloaded (by blob digest): those whose blob is
        not in the store yet and whose layer is not unpacked already."""
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if self.snapshots.whiteout_mode != "overlay" or len(diff_ids) != len(layers):
            return {}
        out: dict[str, LayerStream] = {}
        parent = ""
        for desc, diff_id in zip(layers, diff_ids):
            key = chain_id(parent, diff_id)
            parent = key
            digest = desc.get("digest", "")
            if digest in out or key in self._by_key or self.content.exists(digest) or self.snapshots.get(key):
                continue
            stream = LayerStream(self.snapshots.start_layer(""), self.snapshots.whiteout_mode, diff_id)
            out[digest] = self._by_key[key] = stream
        return out

    def take(self, key: str):
        """(scratch layer, ApplyStats) of a usable stream for the layer `key`, else None."""
        stream = self._by_key.pop(key, None)
        if stream is None:
            return None
        stream.abort()  # a no-op once finished
        if not stream.usable:
            shutil.rmtree(stream.tmp, ignore_errors=True)
            return None
        return stream.tmp, stream.stats
