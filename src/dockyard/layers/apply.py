"""Apply a layer tar to a directory, confined to it, with OCI whiteout semantics.

The tar comes from a registry or a user, so it is hostile until proven otherwise: every entry
is placed by walking its parent path one component at a time inside the target, resolving
symlinks found on the way as a chroot would (absolute targets restart at the target root) and
refusing any `..` that climbs above it. The final component is never followed: whatever sits
there is removed first and the new node created with O_EXCL / O_NOFOLLOW. The target is
private to the caller (a snapshot being prepared), so no other process races these checks.

What a layer declares is not what it may take: sparse entries (GNU sparse 0.0, 0.1, 1.0 and
old GNU) are written with holes, as GNU tar and Go's archive/tar write them, so a 2 KB layer
declaring a 10 GiB sparse file takes kilobytes; every data byte is charged to a `SpaceGuard`
that stops the unpack before the free space falls below the root's reserve (store/space.py),
and a full disk becomes the same one-line `NoSpace`.

Two whiteout modes, because the two snapshotters keep layers differently:
  - "overlay": the target is a fresh overlayfs upper dir; whiteouts become 0:0 character
    devices and opaque markers the overlay opaque xattr (whiteouts.py), for the kernel to honour.
  - "delete": the target already holds the merged content of the lower layers (vfs); whiteouts
    delete from it, and an opaque marker empties the directory of all it held before this layer.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Callable, Literal, TypeVar

from dockyard import rootless
from dockyard.errors import CorruptContent, DockyardError, InvalidArgument, UnsafePath
from dockyard.layers import whiteouts
from dockyard.layers.compression import open_reader
from dockyard.oci.digest import Hasher
from dockyard.store.space import Reserve, SpaceGuard, is_full

WhiteoutMode = Literal["overlay", "delete"]
T = TypeVar("T")

_CHUNK = 1 << 20
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_ACL_DEFAULT_XATTR = "system.posix_acl_default"
_MAX_SYMLINK_HOPS = 40
_MAX_ID = 2**32 - 2  # uid/gid (2^32-1 is chown's "leave it")
_ENTRY_BYTES = 512  # what an entry costs the filesystem beyond its data (inode, directory entry)
# Data that is hashed but never written: what follows the end-of-archive marker (record
# padding: 10 KiB for GNU tar's default) and data carried by entries that hold none
# (whiteouts, links, devices). More is a stream made to be hashed for ever (a decompression
# bomb), not a layer.
_MAX_UNWRITTEN = 64 << 20
# The largest header record (PAX extended header, GNU long name) read, as Go's archive/tar
# allows: tarfile would read a header of any declared size into memory at once.
_MAX_HEADER = 1 << 20
# Errors a filesystem gives for an xattr namespace it will not store (security.selinux on a
# host without SELinux, security.* without the capability): those are dropped, not fatal.
_XATTR_REFUSED = {errno.EPERM, errno.EACCES, errno.EOPNOTSUPP}


@dataclass(frozen=True)
class ApplyStats:
    """What was applied: `diff_id` (sha256 of the uncompressed tar), `size`, the layer's
    size as Docker counts it (content_size), `files`, the number of tar entries read
    (whiteouts and directories included), and `tar_size`, the uncompressed tar's bytes."""

    diff_id: str
    size: int
    files: int
    tar_size: int


class _ByteCount:
    """A Hasher's byte count without the hash, for a tar whose digest is already known."""

    def __init__(self) -> None:
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)


class _TarSource:
    """The uncompressed layer as the seekable file tarfile reads, moving forward only.

    tarfile's stream mode ("r|") pushes every data byte through several intermediate
    buffers, and the churn of those megabyte allocations costs more page faults than the
    files themselves. Its seekable mode reads headers and data straight from the file
    object, and when members are read in order it only ever seeks forward: a forward seek
    here is a skip, a backward one an error, so a pipe will do. Every byte passes the hasher
    once, on its way, so the diff_id costs no second pass; file data is copied through one
    reused buffer.
    """

    def __init__(self, src: BinaryIO, hasher: Hasher | _ByteCount) -> None:
        self._src = src
        self._pos = 0
        self._skipped = 0  # data skipped over (block padding aside)
        self._buf = memoryview(bytearray(_CHUNK))
        self.hasher = hasher

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        """What tarfile reads itself: headers (file data goes through `copy_to`)."""
        if n < 0 or n > _MAX_HEADER:
            raise CorruptContent(f"layer tar has a header record of {n} bytes (at most {_MAX_HEADER} are "
                                 "allowed); refusing the layer")
        data = self._src.read(n)
        self.hasher.update(data)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET or offset < self._pos:  # tarfile seeks to absolute offsets only
            raise io.UnsupportedOperation("a layer tar is read forward only")
        if offset - self._pos >= tarfile.BLOCKSIZE:
            self._skipped += offset - self._pos
            if self._skipped > _MAX_UNWRITTEN:
                raise CorruptContent(f"layer tar carries more than {_MAX_UNWRITTEN >> 20} MiB of data in entries "
                                     "that hold none (whiteouts, links, devices); refusing the layer")
        while self._pos < offset and self._fill(offset - self._pos):
            pass
        return self._pos

    def copy_to(self, fd: int, offset: int, size: int) -> None:
        """Write the `size` bytes at `offset` (a member's data) to `fd`."""
        self.seek(offset)
        while size:
            n = self._fill(size)
            if not n:
                raise CorruptContent("layer tar is corrupt or truncated (it ends inside a file); fetch the layer again")
            _write_all(fd, self._buf[:n])
            size -= n

    def drain(self) -> None:
        """Read (and hash) whatever follows the end-of-archive marker, within reason."""
        end = self._pos + _MAX_UNWRITTEN
        while self._fill(_CHUNK):
            if self._pos > end:
                raise CorruptContent(f"layer tar goes on for more than {_MAX_UNWRITTEN >> 20} MiB after its end "
                                     "(a decompression bomb?); refusing the layer")

    def _fill(self, limit: int) -> int:
        """Read at most `limit` bytes into the buffer, hashed; 0 at the end."""
        n = self._src.readinto(self._buf[: min(limit, _CHUNK)])
        self.hasher.update(self._buf[:n])
        self._pos += n
        return n


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


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


def _umask() -> int:
    """The process umask, read without setting it (os.umask would change it, for a moment,
    under every other thread); unknown, it counts as masking everything."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


def _has_xattr(path: str, name: str) -> bool:
    try:
        os.getxattr(path, name)
    except OSError:  # none (ENODATA), or a filesystem without xattrs
        return False
    return True


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


def _sparse_regions(member: tarfile.TarInfo, stored: int) -> list[tuple[int, int]]:
    """The data regions of a sparse member, checked: in order, apart, inside the file, and
    no more data than the `stored` bytes the archive holds for it. Empty regions (GNU tar
    ends a map with one at the file's end; old GNU headers pad theirs with zeros) are dropped."""
    regions = [(offset, size) for offset, size in member.sparse if size]
    end = total = 0
    for offset, size in regions:
        if offset < end or size < 0 or offset + size > member.size:
            raise CorruptContent(f"layer entry {member.name!r} has an invalid sparse map; refusing the layer")
        end = offset + size
        total += size
    if total > stored:
        raise CorruptContent(f"layer entry {member.name!r}: its sparse map names more data than the layer holds")
    return regions


class MountPointBusy(InvalidArgument):
    """An entry would replace a mount point, or a directory holding one: the kernel refuses
    that (EBUSY) in the namespace the mount is in, and from any other one would quietly detach
    it, so it is refused before anything is removed."""

    def __init__(self, rel: str) -> None:
        self.rel = rel
        super().__init__(f"unlinkat /{rel}: device or resource busy")


class _Applier:
    def __init__(self, root: str, mode: WhiteoutMode, source: _TarSource, guard: SpaceGuard,
                 mount_points: frozenset[str] = frozenset()) -> None:
        self.root = root
        self.mount_points = mount_points
        self.mode = mode
        self.source = source
        self.guard = guard
        self._dirs: set[str] = {""}  # real relative paths known to be directories, not symlinks
        self._parents: dict[str, str] = {}  # cleaned parent path -> its resolved real path
        self._written: set[str] = set()  # real paths this layer created (kept by an opaque marker)
        self._dir_times: dict[str, int] = {}  # directory mtimes, set once all content is in
        self._umask = _umask()
        # Whether a directory may carry a default ACL, which new files below take instead of
        # the umask: the root may have inherited one, and a vfs root holds lower layers' dirs.
        self._acl_defaults = mode == "delete" or _has_xattr(root, _ACL_DEFAULT_XATTR)

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
        if self.mount_points and any(m == rel or m.startswith(rel + "/") for m in self.mount_points):
            raise MountPointBusy(rel)
        path = self._abs(rel)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
            self._forget_dir(rel)
        else:
            os.unlink(path)

    def apply(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name
        for what, value in (("uid", member.uid), ("gid", member.gid)):
            if not 0 <= value <= _MAX_ID:
                raise CorruptContent(f"layer entry {name!r} has {what} {value}, outside 0..{_MAX_ID}; "
                                     "refusing the layer")
        self.guard.charge(_ENTRY_BYTES)
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
        self._written.add(rel)

        if member.isreg():
            self._write_file(tf, member, rel, path)
        elif member.isdir():
            self._make(rel, lambda: os.mkdir(path, 0o700), keep_dir=True)
            self._dirs.add(rel)
            self._set_meta(path, member, is_dir=True, rel=rel)
        elif member.issym():
            self._make(rel, lambda: os.symlink(member.linkname, path))
            self._set_meta(path, member, is_link=True)
        elif member.islnk():
            source = self._link_source(member)
            if source != rel:  # a file linked to itself is already there
                try:
                    self._make(rel, lambda: os.link(self._abs(source), path, follow_symlinks=False))
                except FileNotFoundError:  # the target was inside the directory this entry replaced
                    raise CorruptContent(f"layer entry {name!r} is a hardlink to {member.linkname!r}, "
                                         "which the layer removed") from None
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            try:
                self._make(rel, lambda: os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor)))
            except PermissionError:
                if rootless.active():  # as Docker's and podman's: a user namespace cannot make devices
                    return
                raise
            self._set_meta(path, member)
        elif member.isfifo():
            self._make(rel, lambda: os.mkfifo(path, 0o600))
            self._set_meta(path, member)

    def _make(self, rel: str, create: Callable[[], T], keep_dir: bool = False) -> T | None:
        """Create the node at `rel` with `create`, which must refuse to follow or reuse
        whatever is there (EEXIST): that is removed first, unless it is a directory and
        `keep_dir`. Creating first and looking only on EEXIST saves a stat per entry."""
        try:
            return create()
        except FileExistsError:
            existing = os.lstat(self._abs(rel))
            if keep_dir and stat.S_ISDIR(existing.st_mode):
                return None
            self._remove(rel, existing)
            return create()

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

    def _write_file(self, tf: tarfile.TarFile, member: tarfile.TarInfo, rel: str, path: str) -> None:
        mode = member.mode & 0o7777
        # Created with its final mode when the umask leaves that mode alone and nothing but
        # the umask applies (chown would clear set-id bits; a default ACL replaces the umask):
        # that saves a chmod per file.
        final = not (mode & (0o7000 | self._umask)) and not self._acl_defaults
        regions = None if member.sparse is None else _sparse_regions(member, tf.offset - member.offset_data)
        self.guard.charge(member.size if regions is None else sum(size for _, size in regions))
        fd = self._make(rel, lambda: os.open(path, _CREATE, mode if final else 0o600))
        try:
            if regions is not None:  # data regions written where they belong, holes left unwritten
                self._write_sparse(fd, member, regions)
            elif member.size:
                self.source.copy_to(fd, member.offset_data, member.size)
            self._set_meta(fd, member, mode_set=final)
        finally:
            os.close(fd)

    def _write_sparse(self, fd: int, member: tarfile.TarInfo, regions: list[tuple[int, int]]) -> None:
        data = member.offset_data  # the regions' bytes follow each other in the archive
        for offset, size in regions:
            os.lseek(fd, offset, os.SEEK_SET)
            self.source.copy_to(fd, data, size)
            data += size
        try:
            os.ftruncate(fd, member.size)
        except OSError as exc:
            if exc.errno != errno.EFBIG:
                raise
            raise CorruptContent(f"layer entry {member.name!r} is a sparse file of {member.size} bytes, more than "
                                 "this filesystem can hold; refusing the layer") from None

    def _set_meta(self, target: int | str, member: tarfile.TarInfo, *, is_dir: bool = False,
                  is_link: bool = False, rel: str = "", mode_set: bool = False) -> None:
        """Owner, then mode (chown clears setuid), then xattrs (chown clears capabilities), then times."""
        follow = not is_link
        try:
            os.chown(target, member.uid, member.gid, follow_symlinks=follow)
        except OSError as exc:
            if exc.errno == errno.EINVAL and rootless.active():
                raise InvalidArgument(
                    f"layer entry {member.name!r} is owned by {member.uid}:{member.gid}, an id your user namespace "
                    "does not map: give your user a larger range in /etc/subuid and /etc/subgid "
                    "(65536 ids cover most images)") from None
            raise
        if not (is_link or mode_set):
            os.chmod(target, member.mode & 0o7777)
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                if key[13:] == _ACL_DEFAULT_XATTR:
                    self._acl_defaults = True
                self._set_xattr(target, key[13:], value, follow, member.name)
        ns = _mtime_ns(member)
        if is_dir:
            self._dir_times[rel] = ns
        else:
            os.utime(target, ns=(ns, ns), follow_symlinks=follow)

    @staticmethod
    def _set_xattr(target: int | str, attr: str, value: str, follow: bool, name: str) -> None:
        if attr.startswith(whiteouts.OVERLAY_XATTR_PREFIXES):
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
                os.setxattr(self._abs(parent), whiteouts.opaque_xattr(), b"y", follow_symlinks=False)
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
                expected_diff_id: str | None = None, verified_diff_id: str | None = None,
                guard: SpaceGuard | None = None, mount_points: frozenset[str] = frozenset()) -> ApplyStats:
    """Extract a layer (tar, gzip, zstd, xz or bzip2) into `target_dir`.

    On failure the target is left half-written and must be discarded by the caller; nothing
    is ever written outside it. With `expected_diff_id`, a tar whose digest differs raises
    CorruptContent after extraction (the digest is known only once the stream is read).
    `verified_diff_id` is for a caller that verifies the very same bytes itself (a blob
    stored uncompressed, whose digest is its diff_id, checked as it downloads): the tar is
    not hashed a second time, and the stats report that digest.
    `guard` is charged what the files take and stops the unpack (NoSpace) before the free
    space falls below its reserve; without one, only a full disk stops it (as NoSpace too).
    `mount_points` (relative to the target) are never replaced: an entry that would replace
    one raises MountPointBusy.
    """
    if whiteout_mode not in ("overlay", "delete"):
        raise InvalidArgument(f"unknown whiteout mode {whiteout_mode!r}: use 'overlay' or 'delete'")
    root = os.path.abspath(os.fspath(target_dir))
    if not os.path.isdir(root):
        raise InvalidArgument(f"cannot apply a layer to {root}: not a directory")
    guard = guard or Reserve(root).guard("the archive's files")
    source = _TarSource(open_reader(stream), _ByteCount() if verified_diff_id else Hasher())
    applier = _Applier(root, whiteout_mode, source, guard, mount_points)
    files = size = 0
    try:
        with tarfile.open(fileobj=source, mode="r:") as tf:
            for member in tf:
                try:
                    applier.apply(tf, member)
                except (OverflowError, ValueError) as exc:  # a device number or time no system call takes
                    raise CorruptContent(f"layer entry {member.name!r} is invalid ({exc}); refusing the layer") from None
                files += 1
                size += content_size(member)
        source.drain()
        applier.finish()
    except DockyardError:
        raise
    except (tarfile.TarError, EOFError, ValueError) as exc:  # ValueError: tarfile's parse of a bad sparse map
        raise CorruptContent(f"layer tar is corrupt or truncated ({exc}); fetch the layer again") from None
    except OSError as exc:
        if is_full(exc):
            raise guard.full() from None
        raise
    diff_id = verified_diff_id or source.hasher.digest
    if expected_diff_id is not None and expected_diff_id != diff_id:
        raise CorruptContent(f"layer content is {diff_id}, expected {expected_diff_id}; fetch the layer again")
    return ApplyStats(diff_id=diff_id, size=size, files=files, tar_size=source.hasher.size)


def content_size(member: tarfile.TarInfo) -> int:
    """What a layer entry adds to the layer's size as Docker counts it (the apparent sizes of
    the unpacked files, snapshots.base.dir_size): a file's length (a hard link's file counts
    once, as its first name), a symlink's target's length, nothing for the rest."""
    if member.issym():
        return len(os.fsencode(member.linkname))
    return member.size if member.isreg() else 0
