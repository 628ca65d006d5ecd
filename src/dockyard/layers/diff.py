"""Produce layer tars: a whole tree, an overlay upper dir, or the difference of two trees.

Output is reproducible, so building the same thing twice gives the same diff_id and the same
blob digest: entries in byte order (parents first), PAX format, numeric owners only, whole
second mtimes (as Docker writes them), optionally clamped to SOURCE_DATE_EPOCH, xattrs sorted,
and hardlinks found by inode among the entries of this layer.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.layers import whiteouts
from dockyard.layers.apply import content_size
from dockyard.layers.changes import DELETED, dir_deltas, read_xattrs, walk
from dockyard.oci.digest import Hasher

_CHUNK = 1 << 20


@dataclass(frozen=True)
class DiffStats:
    """The layer written: `diff_id` (sha256 of the uncompressed tar), its size as Docker
    counts it (layers.apply.content_size) and the tar's bytes."""

    diff_id: str
    size: int
    tar_size: int


class _HashingWriter:
    """Hashes the uncompressed tar on its way to `out`, which may be a compressing writer."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.hasher = Hasher()

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self._out.write(data)
        return len(data)

    def tell(self) -> int:
        return self.hasher.size


class _LayerWriter:
    def __init__(self, out: BinaryIO, clamp_mtime: int | None) -> None:
        self._sink = _HashingWriter(out)
        self._tar = tarfile.open(fileobj=self._sink, mode="w", format=tarfile.PAX_FORMAT)
        self._tar.copybufsize = _CHUNK
        self._clamp = clamp_mtime
        self._links: dict[tuple[int, int], str] = {}
        self._size = 0

    def _mtime(self, st: os.stat_result) -> int:
        seconds = st.st_mtime_ns // 10**9
        return seconds if self._clamp is None else min(seconds, self._clamp)

    def _info(self, name: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = self._mtime(st)
        return info

    def add(self, rel: str, path: str, st: os.stat_result) -> None:
        """One node as it is on disk; sockets are skipped, as Docker does."""
        info = self._info(rel, st)
        xattrs = read_xattrs(path)
        if xattrs:
            info.pax_headers = {
                "SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()
            }
        mode = st.st_mode
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            first = self._links.setdefault((st.st_dev, st.st_ino), rel)
            if first != rel:
                info.type, info.linkname = tarfile.LNKTYPE, first
                self._tar.addfile(info)
                return
        if stat.S_ISREG(mode):
            info.size = st.st_size
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with open(fd, "rb", buffering=0) as f:
                self._tar.addfile(info, f)
            self._size += content_size(info)
            return
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        else:
            return
        self._tar.addfile(info)
        self._size += content_size(info)

    def add_whiteout(self, rel: str, parent_st: os.stat_result) -> None:
        """`.wh.<name>` for a deleted path: empty, 0600, root-owned, dated like its parent."""
        head, _, name = rel.rpartition("/")
        info = self._info(f"{head}/{whiteouts.PREFIX}{name}" if head else whiteouts.PREFIX + name, parent_st)
        info.mode, info.uid, info.gid = 0o600, 0, 0
        self._tar.addfile(info)

    def add_opaque(self, rel: str, dir_st: os.stat_result) -> None:
        """`<dir>/.wh..wh..opq`, carrying the directory's own permissions and owner as Docker does."""
        self._tar.addfile(self._info(f"{rel}/{whiteouts.OPAQUE}", dir_st))

    def close(self) -> DiffStats:
        self._tar.close()
        return DiffStats(diff_id=self._sink.hasher.digest, size=self._size, tar_size=self._sink.hasher.size)


def tar_dir(directory: str | os.PathLike, out_stream: BinaryIO, *, clamp_mtime: int | None = None) -> DiffStats:
    """A layer holding everything under `directory` (the directory itself is not an entry)."""
    writer = _LayerWriter(out_stream, clamp_mtime)
    for rel, path, st in walk(os.fspath(directory)):
        writer.add(rel, path, st)
    return writer.close()


def diff_overlay(upper_dir: str | os.PathLike, out_stream: BinaryIO, *, clamp_mtime: int | None = None) -> DiffStats:
    """The layer an overlayfs upper dir stands for: its whiteout devices and opaque xattrs
    become `.wh.` entries, everything else goes in as it is."""
    root = os.fspath(upper_dir)
    writer = _LayerWriter(out_stream, clamp_mtime)
    parents: dict[str, os.stat_result] = {"": os.lstat(root)}
    for rel, path, st in walk(root, overlay=True):
        if whiteouts.is_overlay_whiteout(st):
            writer.add_whiteout(rel, parents[rel.rpartition("/")[0]])
            continue
        writer.add(rel, path, st)
        if stat.S_ISDIR(st.st_mode):
            parents[rel] = st
            if whiteouts.is_opaque(path):
                writer.add_opaque(rel, st)
    return writer.close()


def diff_dirs(lower_dir: str | os.PathLike | None, upper_dir: str | os.PathLike, out_stream: BinaryIO, *,
              clamp_mtime: int | None = None) -> DiffStats:
    """The layer that turns the full tree `lower_dir` (None: empty) into `upper_dir` (vfs)."""
    upper = os.fspath(upper_dir)
    writer = _LayerWriter(out_stream, clamp_mtime)
    for delta in dir_deltas(lower_dir, upper):
        if delta.kind == DELETED:
            writer.add_whiteout(delta.rel, os.lstat(os.path.join(upper, os.path.dirname(delta.rel))))
        else:
            writer.add(delta.rel, os.path.join(upper, delta.rel), delta.st)
    return writer.close()
