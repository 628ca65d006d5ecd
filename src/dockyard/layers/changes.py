"""What changed between a snapshot and its parent: the walk behind both diffs and `docker diff`.

Two ways to know, one per snapshotter. An overlay upper dir *is* the change set (plus
whiteout devices and opaque xattrs), and the lower dirs are only consulted to tell an added
path from a changed one. A vfs snapshot is a full copy, so it is compared with its parent's
tree the way Docker's naive diff does: same type, mode, owner, device, xattrs, symlink target,
and for non-directories same size and mtime means unchanged (contents are not read).
Directories are listed as changed when anything below them changed, so a tar carries their
metadata and `docker diff` shows `C /etc` above `A /etc/new`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Iterator, Sequence

from dockyard.errors import InvalidArgument
from dockyard.layers import whiteouts

ADDED = "A"
CHANGED = "C"
DELETED = "D"


@dataclass(frozen=True)
class Change:
    """One line of `docker diff`: kind is 'A', 'C' or 'D'; path is absolute in the container."""

    kind: str
    path: str


@dataclass(frozen=True)
class Delta:
    """A change with what it takes to put it in a tar: the upper tree's stat (None if deleted)."""

    kind: str
    rel: str
    st: os.stat_result | None


def sorted_entries(path: str, *, overlay: bool = False) -> list[os.DirEntry]:
    """Directory entries in byte order, so every walk (and so every tar) is reproducible;
    `overlay`: a layer in overlay form, whose fuse-overlayfs marks are left out."""
    with os.scandir(path) as it:
        entries = sorted(it, key=lambda e: os.fsencode(e.name))
    return [e for e in entries if not whiteouts.is_mark(e.name)] if overlay else entries


def walk(root: str, rel: str = "", *, overlay: bool = False) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, absolute path, lstat) of everything below root, parents before children."""
    for entry in sorted_entries(os.path.join(root, rel) if rel else root, overlay=overlay):
        crel = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield crel, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from walk(root, crel, overlay=overlay)


def read_xattrs(path: str) -> dict[str, bytes]:
    """A node's xattrs worth carrying in a layer: not overlayfs's own, not host SELinux labels."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in sorted(names):
        if name.startswith(whiteouts.OVERLAY_XATTR_PREFIXES) or name == "security.selinux":
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
    return out


def _same_mtime(a: os.stat_result, b: os.stat_result) -> bool:
    """Equal mtimes; when either lost its nanoseconds (it came through a tar), seconds suffice."""
    if a.st_mtime_ns % 10**9 == 0 or b.st_mtime_ns % 10**9 == 0:
        return a.st_mtime_ns // 10**9 == b.st_mtime_ns // 10**9
    return a.st_mtime_ns == b.st_mtime_ns


def _same(lower: str, lst: os.stat_result, upper: str, ust: os.stat_result) -> bool:
    if (lst.st_mode, lst.st_uid, lst.st_gid, lst.st_rdev) != (ust.st_mode, ust.st_uid, ust.st_gid, ust.st_rdev):
        return False
    if not stat.S_ISDIR(ust.st_mode) and (lst.st_size != ust.st_size or not _same_mtime(lst, ust)):
        return False
    if stat.S_ISLNK(ust.st_mode) and os.readlink(lower) != os.readlink(upper):
        return False
    return read_xattrs(lower) == read_xattrs(upper)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _compare(lower: str | None, upper: str, rel: str, out: list[Delta]) -> None:
    """Append the deltas under `rel`; `lower` is None when the whole subtree is new."""
    up = {e.name: e for e in sorted_entries(os.path.join(upper, rel) if rel else upper)}
    low = set()
    if lower is not None:
        low = {e.name for e in sorted_entries(os.path.join(lower, rel) if rel else lower)}
    for name in sorted(up.keys() | low, key=os.fsencode):
        crel = f"{rel}/{name}" if rel else name
        if name not in up:
            out.append(Delta(DELETED, crel, None))
            continue
        upath = up[name].path
        ust = up[name].stat(follow_symlinks=False)
        lst = _lstat(os.path.join(lower, crel)) if lower is not None and name in low else None
        if lst is None:
            kind = ADDED
        elif _same(os.path.join(lower, crel), lst, upath, ust):
            kind = None
        else:
            kind = CHANGED
        if stat.S_ISDIR(ust.st_mode):
            below: list[Delta] = []
            lower_dir = lower if lst is not None and stat.S_ISDIR(lst.st_mode) else None
            _compare(lower_dir, upper, crel, below)
            if kind or below:
                out.append(Delta(kind or CHANGED, crel, ust))
                out.extend(below)
        elif kind:
            out.append(Delta(kind, crel, ust))


def dir_deltas(lower_dir: str | os.PathLike | None, upper_dir: str | os.PathLike) -> list[Delta]:
    """Deltas from a full tree (None: an empty one) to another, parents first, in byte order."""
    deltas: list[Delta] = []
    _compare(None if lower_dir is None else os.fspath(lower_dir), os.fspath(upper_dir), "", deltas)
    return deltas


def _in_lowers(lowers: Sequence[str], parts: list[str]) -> bool:
    """Whether a path is visible in the merged view of overlay lower dirs (topmost first)."""
    for layer in lowers:
        path = layer
        opaque_above = False
        for i, c in enumerate(parts):
            path += "/" + c
            st = _lstat(path)
            if st is None:
                break
            if whiteouts.is_overlay_whiteout(st):
                return False
            if i == len(parts) - 1:
                return True
            if not stat.S_ISDIR(st.st_mode):
                return False
            opaque_above = opaque_above or whiteouts.is_opaque(path)
        if opaque_above:
            return False
    return False


def _lower_names(lowers: Sequence[str], rel: str) -> set[str]:
    """Names a directory shows in the merged lower view (whiteouts and opaque dirs honoured)."""
    names: set[str] = set()
    hidden: set[str] = set()
    for layer in lowers:
        path = os.path.join(layer, rel)
        if not os.path.isdir(path) or os.path.islink(path):
            continue
        for entry in sorted_entries(path, overlay=True):
            if entry.name in names or entry.name in hidden:
                continue
            if whiteouts.is_overlay_whiteout(entry.stat(follow_symlinks=False)):
                hidden.add(entry.name)
            else:
                names.add(entry.name)
        if whiteouts.is_opaque(path):
            break
    return names


def _overlay_changes(upper: str, lowers: Sequence[str], rel: str, out: list[Change]) -> None:
    entries = sorted_entries(os.path.join(upper, rel) if rel else upper, overlay=True)
    for entry in entries:
        crel = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        if whiteouts.is_overlay_whiteout(st):
            out.append(Change(DELETED, "/" + crel))
            continue
        existed = _in_lowers(lowers, crel.split("/"))
        out.append(Change(CHANGED if existed else ADDED, "/" + crel))
        if stat.S_ISDIR(st.st_mode):
            if existed and whiteouts.is_opaque(entry.path):
                present = {e.name for e in sorted_entries(entry.path, overlay=True)}
                for gone in sorted(_lower_names(lowers, crel) - present, key=os.fsencode):
                    out.append(Change(DELETED, f"/{crel}/{gone}"))
            _overlay_changes(upper, lowers, crel, out)


def changes(upper_dir: str | os.PathLike, lower_dirs: Sequence[str | os.PathLike] = (), *,
            overlay: bool = True) -> list[Change]:
    """`docker diff` of a snapshot, sorted by path as Docker prints it.

    overlay=True: `upper_dir` is an overlayfs upper dir over `lower_dirs` (topmost first).
    overlay=False: `upper_dir` is a full tree and `lower_dirs` holds at most its parent's full
    tree (none for a snapshot without parent).
    """
    upper = os.fspath(upper_dir)
    lowers = [os.fspath(d) for d in lower_dirs]
    if overlay:
        out: list[Change] = []
        _overlay_changes(upper, lowers, "", out)
    else:
        if len(lowers) > 1:
            raise InvalidArgument("a full-tree comparison takes at most one lower dir, the parent's tree")
        out = [Change(d.kind, "/" + d.rel) for d in dir_deltas(lowers[0] if lowers else None, upper)]
    return sorted(out, key=lambda c: os.fsencode(c.path))
