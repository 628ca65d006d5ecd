"""Compare whole directory trees the way a user inspecting a rootfs would.

A tree becomes {path: Node}: type, permissions (setuid & co included), owner, size, mtime in
whole seconds (what a layer tar carries), symlink target, device numbers, xattrs, a digest of
the content, and which other paths share the inode (so a hardlink that became a copy shows).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Iterable

_TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}


@dataclass(frozen=True)
class Node:
    path: str
    type: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    link: str | None
    rdev: tuple[int, int] | None
    xattrs: tuple[tuple[str, bytes], ...]
    sha256: str | None
    hardlinks: tuple[str, ...] = ()


def _xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(
        (n, os.getxattr(path, n, follow_symlinks=False)) for n in sorted(names) if n != "security.selinux"
    )


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def snapshot(root: str | os.PathLike, *, ignore: Iterable[str] = (), include_root: bool = False) -> dict[str, Node]:
    """Every node under root keyed by '/'-rooted path; fields named in `ignore` are blanked."""
    root = os.fspath(root)
    nodes: dict[str, Node] = {}
    inodes: dict[tuple[int, int], list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        names = list(dirnames) + list(filenames)
        if include_root and dirpath == root:
            names.append("")
        for name in names:
            path = os.path.join(dirpath, name) if name else root
            st = os.lstat(path)
            rel = "/" + os.path.relpath(path, root) if name else "/"
            kind = _TYPES[stat.S_IFMT(st.st_mode)]
            nodes[rel] = Node(
                path=rel,
                type=kind,
                mode=stat.S_IMODE(st.st_mode),
                uid=st.st_uid,
                gid=st.st_gid,
                size=0 if kind == "dir" else st.st_size,
                mtime=st.st_mtime_ns // 10**9,
                link=os.readlink(path) if kind == "symlink" else None,
                rdev=(os.major(st.st_rdev), os.minor(st.st_rdev)) if kind in ("char", "block") else None,
                xattrs=_xattrs(path),
                sha256=_sha256(path) if kind == "file" else None,
            )
            if kind != "dir" and st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
    for group in inodes.values():
        for rel in group:
            nodes[rel] = dataclasses.replace(nodes[rel], hardlinks=tuple(sorted(p for p in group if p != rel)))
    blank = {f: None for f in ignore}
    return {k: dataclasses.replace(v, **blank) for k, v in nodes.items()} if blank else nodes


def tree_diff(a: dict[str, Node], b: dict[str, Node]) -> list[str]:
    """Human-readable differences between two snapshots; empty when they match."""
    out = [f"only in first: {p}" for p in sorted(a.keys() - b.keys())]
    out += [f"only in second: {p}" for p in sorted(b.keys() - a.keys())]
    for p in sorted(a.keys() & b.keys()):
        if a[p] != b[p]:
            fields = [
                f"{f.name}: {getattr(a[p], f.name)!r} != {getattr(b[p], f.name)!r}"
                for f in dataclasses.fields(Node)
                if getattr(a[p], f.name) != getattr(b[p], f.name)
            ]
            out.append(f"{p}: " + "; ".join(fields))
    return out


def assert_same_tree(a: str | os.PathLike, b: str | os.PathLike, *, ignore: Iterable[str] = ()) -> None:
    """Fail with a readable list of differences unless the two trees are the same."""
    ignore = tuple(ignore)
    diffs = tree_diff(snapshot(a, ignore=ignore), snapshot(b, ignore=ignore))
    assert not diffs, "trees differ:\n" + "\n".join(diffs)
