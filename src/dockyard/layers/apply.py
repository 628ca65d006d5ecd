"""Apply a layer tar to a directory, confined to it, with OCI whiteout semantics.

The tar comes from a registry or a user, so it is hostile until proven otherwise: every entry
is placed by walking its parent path one component at a time inside the target, resolving
symlinks found on the way as a chroot would (absolute targets restart at the target root) and
refusing any `..` that climbs above it. The final component is never followed: whatever sits
there is removed first and the new node created with O_EXCL / O_NOFOLLOW. The target is
private to the caller (a snapshot being prepared), so no other process races these checks.

Two whiteout modes, because the two snapshotters keep layers differently:
  - "overlay": the target is a fresh overlayfs upper dir; whiteouts become 0:0 character
    devices and opaque markers the `trusted.overlay.opaque` xattr, for the kernel to honour.
  - "delete": the target already holds the merged content of the lower layers (vfs); whiteouts
    delete from it, and an opaque marker empties the directory of all it held before this layer.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Literal

from dockyard.errors import CorruptContent, DockyardError, InvalidArgument, UnsafePath
from dockyard.layers import whiteouts
from dockyard.layers.compression import open_reader
from dockyard.oci.digest import Hasher

WhiteoutMode = Literal["overlay", "delete"]

_CHUNK = 1 << 20
_MAX_SYMLINK_HOPS = 40
# Errors a filesystem gives for an xattr namespace it will not store (security.selinux on a
# host without SELinux, security.* without the capability): those are dropped, not fatal.
_XATTR_REFUSED = {errno.EPERM, errno.EACCES, errno.EOPNOTSUPP}


@dataclass(frozen=True)
class ApplyStats:
    """What was applied: `diff_id` (sha256 of the uncompressed tar), its size in bytes, and
    `files`, the number of tar entries read (whiteouts and directories included)."""

    diff_id: str
    size: int
    files: int


class _HashingReader:
    """Hashes every uncompressed byte tarfile reads, so the diff_id costs no second pass."""

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self.hasher = Hasher()

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        self.hasher.update(data)
        return data


def _clean(name: str) -> list[str]:
    """Path components of a member name, leading `/` dropped and `..` folded, as Docker does.

    A `..` that would climb above the root is refused rather than clamped: such a name is
    never produced by an honest tool.
    """
    parts: list[str] = []
    for c in name.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if not parts:
                raise UnsafePath(f"layer entry {name!r} points outside the layer root; refusing the layer")
            parts.pop()
        else:
            parts.append(c)
    return parts


def _mtime_ns(member: tarfile.TarInfo) -> int:
    """The member's mtime in nanoseconds, exact when PAX gives it as a decimal string."""
    text = member.pax_headers.get("mtime")
    if text:
        whole, _, frac = text.partition(".")
        try:
            sign = -1 if whole.startswith("-") else 1
            return int(whole) * 10**9 + sign * int((frac + "000000000")[:9] or 0)
        except ValueError:
            pass
    return int(member.mtime * 10**9) if isinstance(member.mtime, float) else member.mtime * 10**9


class _Applier:
    def __init__(self, root: str, mode: WhiteoutMode) -> None:
        self.root = root
        self.mode = mode
        self._dirs: set[str] = {""}  # real relative paths known to be directories, not symlinks
        self._parents: dict[str, str] = {}  # cleaned parent path -> its resolved real path
        self._written: set[str] = set()  # real paths this layer created (kept by an opaque marker)
        self._dir_times: dict[str, int] = {}  # directory mtimes, set once all content is in

    def _abs(self, rel: str) -> str:
        return self.root + "/" + rel if rel else self.root

    def _clear_caches(self) -> None:
        """Directories went away: path resolutions made through them no longer hold."""
        self._dirs = {""}
        self._parents.clear()

    def _forget_dir(self, rel: str) -> None:
        """The directory `rel` went away: nothing at or under it may be touched again."""
        self._clear_caches()
        prefix = rel + "/"
        for key in [k for k in self._dir_times if k == rel or k.startswith(prefix)]:
            del self._dir_times[key]

    def _resolve(self, parts: list[str], name: str, create: bool) -> str | None:
        """Real path (relative, symlink-free) of the directory `parts` names, inside root.

        Missing directories are created 0755 when `create` (as Docker does for parents a tar
        omits); otherwise a missing one yields None.
        """
        key = "/".join(parts)
        cached = self._parents.get(key)
        if cached is not None:
            return cached
        real: list[str] = []
        todo = parts[::-1]
        hops = 0
        while todo:
            c = todo.pop()
            if c in ("", "."):
                continue
            if c == "..":
                if not real:
                    raise UnsafePath(
                        f"layer entry {name!r} goes through a symlink that leads outside the layer root; "
                        "refusing the layer"
                    )
                real.pop()
                continue
            real.append(c)
            rel = "/".join(real)
            if rel in self._dirs:
                continue
            path = self._abs(rel)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    return None
                os.mkdir(path, 0o755)
                self._dirs.add(rel)
                continue
            if stat.S_ISDIR(st.st_mode):
                self._dirs.add(rel)
            elif stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise UnsafePath(f"layer entry {name!r}: too many levels of symlinks; refusing the layer")
                target = os.readlink(path)
                real.pop()
                if target.startswith("/"):
                    real.clear()
                todo.extend(reversed(target.split("/")))
            else:
                raise CorruptContent(f"layer entry {name!r}: parent {rel!r} is not a directory")
        result = "/".join(real)
        if create:
            self._parents[key] = result
        return result

    def _remove(self, rel: str, st: os.stat_result) -> None:
        path = self._abs(rel)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
            self._forget_dir(rel)
        else:
            os.unlink(path)

    def apply(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name
        parts = _clean(name)
        if parts and parts[0].startswith(whiteouts.META_PREFIX) and parts[0] != whiteouts.OPAQUE:
            return
        if not parts:
            if member.isdir():
                self._set_meta(self.root, member, is_dir=True, rel="")
            return
        base = parts[-1]
        if base.startswith(whiteouts.PREFIX):
            self._whiteout(parts, name)
            return
        parent = self._resolve(parts[:-1], name, create=True)
        rel = f"{parent}/{base}" if parent else base
        path = self._abs(rel)
        try:
            existing = os.lstat(path)
        except FileNotFoundError:
            existing = None
        if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
            self._remove(rel, existing)
            existing = None
        self._written.add(rel)

        if member.isreg():
            self._write_file(tf, member, path)
        elif member.isdir():
            if existing is None:
                os.mkdir(path, 0o700)
            self._dirs.add(rel)
            self._set_meta(path, member, is_dir=True, rel=rel)
        elif member.issym():
            os.symlink(member.linkname, path)
            self._set_meta(path, member, is_link=True)
        elif member.islnk():
            os.link(self._abs(self._link_source(member)), path, follow_symlinks=False)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
            self._set_meta(path, member)
        elif member.isfifo():
            os.mkfifo(path, 0o600)
            self._set_meta(path, member)

    def _link_source(self, member: tarfile.TarInfo) -> str:
        """Real path of a hardlink's target, which must already exist inside the root."""
        parts = _clean(member.linkname)
        if not parts:
            raise CorruptContent(f"layer entry {member.name!r} is a hardlink to the layer root")
        parent = self._resolve(parts[:-1], member.name, create=False)
        rel = f"{parent}/{parts[-1]}" if parent else parts[-1]
        try:
            st = os.lstat(self._abs(rel)) if parent is not None else None
        except FileNotFoundError:
            st = None
        if st is None:
            raise CorruptContent(
                f"layer entry {member.name!r} is a hardlink to {member.linkname!r}, which the layer does not contain"
            )
        if stat.S_ISDIR(st.st_mode):
            raise CorruptContent(f"layer entry {member.name!r} is a hardlink to a directory")
        return rel

    def _write_file(self, tf: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            if member.size:
                src = tf.extractfile(member)
                while chunk := src.read(_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
            self._set_meta(fd, member)
        finally:
            os.close(fd)

    def _set_meta(self, target: int | str, member: tarfile.TarInfo, *, is_dir: bool = False,
                  is_link: bool = False, rel: str = "") -> None:
        """Owner, then mode (chown clears setuid), then xattrs (chown clears capabilities), then times."""
        follow = not is_link
        os.chown(target, member.uid, member.gid, follow_symlinks=follow)
        if not is_link:
            os.chmod(target, member.mode & 0o7777)
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                self._set_xattr(target, key[13:], value, follow, member.name)
        ns = _mtime_ns(member)
        if is_dir:
            self._dir_times[rel] = ns
        else:
            os.utime(target, ns=(ns, ns), follow_symlinks=follow)

    @staticmethod
    def _set_xattr(target: int | str, attr: str, value: str, follow: bool, name: str) -> None:
        if attr.startswith(whiteouts.OVERLAY_XATTR_PREFIX):
            return
        try:
            os.setxattr(target, attr, value.encode("utf-8", "surrogateescape"), follow_symlinks=follow)
        except OSError as exc:
            if attr.startswith("security.") and exc.errno in _XATTR_REFUSED:
                return
            raise CorruptContent(f"layer entry {name!r}: cannot set xattr {attr}: {exc.strerror}") from None

    def _whiteout(self, parts: list[str], name: str) -> None:
        base = parts[-1]
        overlay = self.mode == "overlay"
        parent = self._resolve(parts[:-1], name, create=overlay)
        if parent is None:
            return
        if base == whiteouts.OPAQUE:
            if overlay:
                os.setxattr(self._abs(parent), whiteouts.OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
            else:
                self._empty_lower(parent)
            return
        victim = base[len(whiteouts.PREFIX) :]
        if victim in ("", ".", ".."):
            raise CorruptContent(f"layer entry {name!r} is not a valid whiteout")
        rel = f"{parent}/{victim}" if parent else victim
        try:
            existing = os.lstat(self._abs(rel))
        except FileNotFoundError:
            existing = None
        if existing is not None:
            self._remove(rel, existing)
        if overlay:
            os.mknod(self._abs(rel), stat.S_IFCHR, os.makedev(0, 0))

    def _empty_lower(self, rel: str) -> None:
        """Delete what lower layers left under `rel`, keeping what this layer already wrote."""
        removed = False
        with os.scandir(self._abs(rel)) as it:
            entries = list(it)
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if child not in self._written:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                    removed = True
                else:
                    os.unlink(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                self._empty_lower(child)
        if removed:
            self._clear_caches()

    def finish(self) -> None:
        for rel, ns in self._dir_times.items():
            os.utime(self._abs(rel), ns=(ns, ns), follow_symlinks=False)


def apply_layer(stream: BinaryIO, target_dir: str | os.PathLike, *, whiteout_mode: WhiteoutMode = "overlay",
                expected_diff_id: str | None = None) -> ApplyStats:
    """Extract a layer (tar, gzip, zstd, xz or bzip2) into `target_dir`.

    On failure the target is left half-written and must be discarded by the caller; nothing
    is ever written outside it. With `expected_diff_id`, a tar whose digest differs raises
    CorruptContent after extraction (the digest is known only once the stream is read).
    """
    if whiteout_mode not in ("overlay", "delete"):
        raise InvalidArgument(f"unknown whiteout mode {whiteout_mode!r}: use 'overlay' or 'delete'")
    root = os.path.abspath(os.fspath(target_dir))
    if not os.path.isdir(root):
        raise InvalidArgument(f"cannot apply a layer to {root}: not a directory")
    reader = _HashingReader(open_reader(stream))
    applier = _Applier(root, whiteout_mode)
    files = 0
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tf:
            for member in tf:
                applier.apply(tf, member)
                files += 1
        while reader.read(_CHUNK):
            pass
    except DockyardError:
        raise
    except (tarfile.TarError, EOFError) as exc:
        raise CorruptContent(f"layer tar is corrupt or truncated ({exc}); fetch the layer again") from None
    applier.finish()
    diff_id = reader.hasher.digest
    if expected_diff_id is not None and expected_diff_id != diff_id:
        raise CorruptContent(f"layer content is {diff_id}, expected {expected_diff_id}; fetch the layer again")
    return ApplyStats(diff_id=diff_id, size=reader.hasher.size, files=files)
