"""Layers unpacked while they download.

A pull used to fetch every blob and then unpack the layers one by one: for a Debian base
image that is ~0.4 s of transfer followed by ~1 s of unpacking. Here each layer's bytes also
go, as they arrive, through a pipe to `apply_layer`, so the unpacking overlaps the transfer.

The applier is a forked child when the caller says its process may fork (the CLI, whose
only other thread, rich's refresh, holds nothing the child touches): the download and the
unpacking then run on two cores without sharing a GIL, which made the stream 0.2 s faster
for a Debian layer than an applier thread fighting the download thread for it. The API
server, whose threads could hold a lock the child would copy, keeps a thread. Either way
the applier reports its result through a pipe of its own.

Only with the overlay snapshotter, whose layer directories hold their own changes alone
(vfs fills a layer with its parent's tree first), and only for a download that starts at
byte 0 (a resumed partial goes the ordinary way). A stream counts only if its blob then
verified and its tar unpacked to the diff ID the image config names; anything else throws
the scratch layer away, and the image service unpacks that blob from the store as before.
A blob whose digest is its diff ID is the tar itself: the download's verification covers
it, and the applier does not hash it again.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import NoReturn

from dockyard.layers.apply import ApplyStats, apply_layer
from dockyard.oci.image import chain_id
from dockyard.store.space import Reserve

PIPE_BYTES = 1 << 20  # fewer wake-ups than the default 64 KiB between downloader and applier
_WRITE_ENDS: set[int] = set()  # every open stream's write end, which a forked applier must not hold


def _apply(read: int, report: int, fs: Path, whiteout_mode: str, verified_diff_id: str | None,
           reserve: Reserve) -> None:
    """Apply the tar arriving on `read`; write "diff_id size files tar_size" to `report` if it worked."""
    try:
        with os.fdopen(read, "rb") as src:
            stats = apply_layer(src, fs, whiteout_mode=whiteout_mode, verified_diff_id=verified_diff_id,
                                guard=reserve.guard("layer"))
        os.write(report, f"{stats.diff_id} {stats.size} {stats.files} {stats.tar_size}".encode())
    except Exception:  # a bad tar, or no room: the ordinary unpack will say what is wrong
        pass
    finally:
        os.close(report)


class LayerStream:
    """One layer applied from a pipe; the download writes into it, then finishes (the blob
    verified) or aborts. Never raises into the download: a failing applier just makes the
    stream unusable."""

    def __init__(self, tmp: Path, whiteout_mode: str, diff_id: str, verified: bool, forked: bool,
                 reserve: Reserve) -> None:
        self.tmp, self.diff_id = tmp, diff_id
        self.stats = None
        self._finished = False
        self._pid, self._thread = 0, None
        read, self._write = os.pipe()
        self._report, report = os.pipe()
        try:
            fcntl.fcntl(self._write, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass
        args = (read, report, tmp / "fs", whiteout_mode, diff_id if verified else None, reserve)
        if not forked:
            self._thread = threading.Thread(target=_apply, args=args, name="dockyard-unpack", daemon=True)
            self._thread.start()
        else:
            self._pid = os.fork()
            if self._pid == 0:
                self._child(args)
            os.close(read)
            os.close(report)
        _WRITE_ENDS.add(self._write)

    def _child(self, args: tuple) -> NoReturn:
        import gc

        gc.disable()  # a collection would touch, and so copy, every page of the parent's heap
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.close(self._report)
            for fd in _WRITE_ENDS | {self._write}:
                os.close(fd)
            _apply(*args)
        finally:
            os._exit(0)

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view and self._write >= 0:
                view = view[os.write(self._write, view):]
        except OSError:  # the applier stopped early (a bad tar): the blob still downloads
            self._close()

    def finish(self) -> None:
        """The blob is in the store, verified: wait for the applier's report."""
        self._close()
        out = b""
        while more := os.read(self._report, 256):
            out += more
        self._end()
        words = out.decode().split(" ")
        if len(words) == 4 and all(w.isdigit() for w in words[1:]):
            self.stats = ApplyStats(words[0], *(int(w) for w in words[1:]))
        self._finished = True

    def abort(self) -> None:
        self._close()
        if self._pid:
            os.kill(self._pid, signal.SIGKILL)
        self._end()

    def _end(self) -> None:
        if self._pid:
            os.waitpid(self._pid, 0)
            self._pid = 0
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._report >= 0:
            os.close(self._report)
            self._report = -1

    @property
    def usable(self) -> bool:
        return self._finished and self.stats is not None and self.stats.diff_id == self.diff_id

    def _close(self) -> None:
        if self._write >= 0:
            _WRITE_ENDS.discard(self._write)
            os.close(self._write)
            self._write = -1


class LayerStreams:
    """The streams of one pull, for the image service's unpack to take by chain ID; on exit,
    whatever was not taken is aborted and its scratch layer removed."""

    def __init__(self, snapshots, content, forked: bool) -> None:
        self.snapshots, self.content, self.forked = snapshots, content, forked
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
            stream = LayerStream(self.snapshots.start_layer(""), self.snapshots.whiteout_mode, diff_id,
                                 verified=digest == diff_id, forked=self.forked, reserve=self.content.reserve)
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
