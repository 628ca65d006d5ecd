"""A container's filesystem from outside: `cp` both ways, `diff`, `export`, `commit`.

A running container is read through /proc/<pid>/root, which shows its volumes and binds as
the container sees them; a stopped one through its rootfs, mounted for the time it takes.
Every path is resolved inside that root, so a symlink in the container can never point a
copy at the host.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from dockyard.errors import Conflict, CorruptContent, InvalidArgument, NotFound


@contextmanager
def container_root(service, c, *, live: bool = True) -> Iterator[str]:
    """The container's filesystem as a path: its live view, or, when it is stopped, its rootfs
    with its volumes and binds mounted over it for the time it takes, as dockerd mounts them
    for a copy. With `live` off (export reads no volumes, as docker's does), the bare rootfs."""
    if live and c.running and c.state.get("Pid"):
        yield f"/proc/{c.state['Pid']}/root"
        return
    service.engine.run_dir.mkdir(parents=True, exist_ok=True)
    from dockyard.snapshots.mount import mount, unmount
    with tempfile.TemporaryDirectory(prefix="dockyard-fs-", dir=service.engine.run_dir) as mnt:
        mount(service.engine.snapshots.mounts(c.id)[0], mnt)
        try:
            if live:
                with _volumes_mounted(service, c, mnt):
                    yield mnt
            else:
                yield mnt
        finally:
            unmount(mnt)


@contextmanager
def _volumes_mounted(service, c, mnt: str) -> Iterator[None]:
    """The stopped container's volumes and binds at their places under `mnt` (read-only where
    the container has them so); a volume with options is mounted for the copy's time."""
    from dockyard.snapshots.base import Mount
    from dockyard.snapshots.mount import mount, unmount
    holder = f"copy-{os.urandom(6).hex()}"
    targets: list[str] = []
    held: list[str] = []
    try:
        for m in c.mounts:
            if m.get("Type") == "volume" and m.get("Name"):
                source = str(service.engine.volumes.source(m["Name"], holder))
                held.append(m["Name"])
            elif m.get("Type") == "bind":
                source = m["Source"]
            else:
                continue
            target = _inside(mnt, m["Destination"])
            if not os.path.lexists(target):  # made as the runtime makes a missing mount point
                if os.path.isdir(source):
                    os.makedirs(target, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    open(target, "a").close()
            mount(Mount("bind", source, [] if m.get("RW", True) else ["ro"]), target)
            targets.append(target)
        yield
    finally:
        for target in reversed(targets):
            unmount(target)
        for name in held:
            service.engine.volumes.release(name, holder)


def _mount_points(root: str) -> set[str]:
    """The mount points under a root container_root gave, as paths in the container: from the
    container's own mount table when it runs, from ours below the root otherwise."""
    if root.startswith("/proc/"):
        table, prefix = f"/proc/{root.split('/')[2]}/mountinfo", "/"
    else:
        table, prefix = "/proc/self/mountinfo", root + "/"
    out = set()
    with open(table, "rb") as f:
        for line in f:
            point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), line.split()[4]).decode(errors="replace")
            if point.startswith(prefix):
                out.add("/" + point[len(prefix):].strip("/"))
    return out


def _inside(root: str, path: str) -> str:
    from dockyard.runtime.securejoin import secure_join
    return secure_join(root, path)


def _named(root: str, path: str) -> str:
    """The host path of what `path` names in the container, as docker cp takes it: the last
    component itself (a symlink stays one), unless the path ends in / or /. (then followed)."""
    if path.endswith(("/", "/.")) or path.strip("/") in ("", "."):
        return _inside(root, path)
    parent, base = os.path.split(path.rstrip("/"))
    return os.path.join(_inside(root, parent or "/"), base)


def path_stat(root: str, path: str, ref: str) -> dict:
    """docker's PathStat (the X-Docker-Container-Path-Stat header) of `path` in container `ref`:
    a symlink's linkTarget is where it leads, as an absolute path in the container."""
    full = _named(root, path)
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container {ref}") from None
    link = ""
    if stat.S_ISLNK(st.st_mode):
        rel = os.path.relpath(_inside(root, path), os.path.abspath(root))
        link = "/" if rel == "." else "/" + rel
    from dockyard.containers.record import rfc3339
    return {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size,
            "mode": _go_mode(st.st_mode), "mtime": rfc3339(st.st_mtime), "linkTarget": link}


def _go_mode(mode: int) -> int:
    """Go's os.FileMode bits, which docker clients decode from PathStat."""
    perm = stat.S_IMODE(mode) & 0o777
    bits = {stat.S_IFDIR: 1 << 31, stat.S_IFLNK: 1 << 27, stat.S_IFIFO: 1 << 25, stat.S_IFSOCK: 1 << 24,
            stat.S_IFCHR: (1 << 26) | (1 << 21), stat.S_IFBLK: 1 << 26}
    out = perm | bits.get(stat.S_IFMT(mode), 0)
    if mode & stat.S_ISUID:
        out |= 1 << 23
    if mode & stat.S_ISGID:
        out |= 1 << 22
    if mode & stat.S_ISVTX:
        out |= 1 << 20
    return out


class _Produced(io.RawIOBase):
    """The read end of a pipe a thread writes into; the thread's failure is raised to the
    reader at the end of the data, so a broken copy never looks like a short, valid one."""

    def __init__(self, fd: int) -> None:
        self._f = os.fdopen(fd, "rb", buffering=0)
        self.error: BaseException | None = None
        self.done = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._f.readinto(buf)
        if not n:
            self.done.wait(5)
            if self.error is not None:
                err, self.error = self.error, None
                raise err
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def produced(write: Callable[[BinaryIO], object]) -> BinaryIO:
    """A stream whose bytes `write(out)` produces in a thread: lets a tar be streamed to a
    client while the mount it is read from stays up exactly as long as the writing."""
    r, w = os.pipe()
    reader = _Produced(r)
    writer = os.fdopen(w, "wb")

    def run() -> None:
        try:
            write(writer)
        except BrokenPipeError:
            pass  # the reader went away
        except BaseException as e:  # noqa: BLE001 - handed to the reader
            reader.error = e
        finally:
            try:
                writer.close()
            except OSError:
                pass
            reader.done.set()

    threading.Thread(target=run, daemon=True).start()
    return io.BufferedReader(reader, 1 << 16)


def archive_get(service, ref: str, path: str, out: BinaryIO) -> dict:
    """Write a tar of `path` (named by its base name, as docker cp does) to `out`; returns its stat."""
    c = service.get(ref)
    with container_root(service, c) as root:
        st = path_stat(root, path, ref)
        full = _named(root, path)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.add(full, arcname=st["name"], recursive=True, filter=_as_docker_writes(root))
    return st


def _as_docker_writes(root: str) -> Callable[[tarfile.TarInfo], tarfile.TarInfo]:
    """Headers as dockerd's archives have them: whole-second times (no PAX record for them),
    user and group names from the container's own /etc/passwd and /etc/group (none for an id
    they do not list; the host's names for the ids mean nothing in the container)."""
    from dockyard.runtime.identity import read_account_db
    users = {e[2]: e[0] for e in read_account_db(root, "passwd") if len(e) > 2}
    groups = {e[2]: e[0] for e in read_account_db(root, "group") if len(e) > 2}

    def header(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = int(info.mtime)
        info.uname, info.gname = users.get(str(info.uid), ""), groups.get(str(info.gid), "")
        return info
    return header


def archive_put(service, ref: str, path: str, data: BinaryIO) -> None:
    """Extract a tar into directory `path` of the container (which must exist), confined to it.
    A mount point is never replaced (dockerd's extraction fails on it with EBUSY)."""
    from dockyard.layers.apply import MountPointBusy, apply_layer
    c = service.get(ref)
    if c.host_config.get("ReadonlyRootfs") and c.running:
        raise InvalidArgument("container rootfs is marked read-only")
    with container_root(service, c) as root:
        full = _inside(root, path)
        if not os.path.exists(full):
            raise NotFound(f"Could not find the file {path} in container {ref}")
        if not os.path.isdir(full):
            raise InvalidArgument("extraction point is not a directory")
        rel = os.path.relpath(full, root)
        below = "/" if rel == "." else f"/{rel}/"
        busy = frozenset(p[len(below):] for p in _mount_points(root) if p.startswith(below) and p != below)
        try:
            apply_layer(data, full, whiteout_mode="delete", mount_points=busy)
        except MountPointBusy as e:
            raise InvalidArgument(f"Error processing tar file(exit status 1): unlinkat {below}{e.rel}: "
                                  "device or resource busy") from None
        except CorruptContent:
            raise CorruptContent(f"cannot extract into {path}: the body is not a valid tar archive, "
                                 "or it ends early") from None


def export(service, ref: str, out: BinaryIO) -> None:
    """`docker export`: the container's whole filesystem as one tar."""
    from dockyard.layers.diff import tar_dir
    c = service.get(ref)
    with container_root(service, c, live=False) as root:
        tar_dir(root, out)


def changes(service, ref: str) -> list[dict]:
    from dockyard.layers.changes import changes as walk
    c = service.get(ref)
    snaps = service.engine.snapshots
    own = snaps.root / snaps.need(c.id).dir / "fs"
    parent = snaps.need(c.id).parent
    if snaps.whiteout_mode == "overlay":
        found = walk(own, [Path(p) for p in snaps.lower_dirs(parent)] if parent else [], overlay=True)
    else:
        found = walk(own, [snaps.fs(parent)] if parent else [], overlay=False)
    kinds = {"C": 0, "A": 1, "D": 2}
    return [{"Path": ch.path, "Kind": kinds[ch.kind]} for ch in found]


_COMMITTED = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal",
              "Healthcheck", "OnBuild", "Shell")


def _committed(config: dict) -> dict:
    """The fields of a container's Config an image keeps (a JSON string for a command is a one-word one)."""
    return {k: [v] if k in ("Cmd", "Entrypoint", "Shell") and isinstance(v, str) else v
            for k, v in config.items() if v not in (None, "", [], {}) and k in _COMMITTED}


def _over(cfg: dict, own: dict) -> dict:
    """moby's merge of a commit's Config over the container's: what it leaves unset comes
    from the container (maps and the environment joined, the command only with no entrypoint)."""
    from dockyard.containers.request import merge_env
    out = dict(cfg)
    for key in ("User", "WorkingDir", "StopSignal", "Healthcheck"):
        if not out.get(key) and own.get(key):
            out[key] = own[key]
    for key in ("ExposedPorts", "Volumes", "Labels"):
        if out.get(key) or own.get(key):
            out[key] = {**(own.get(key) or {}), **(out.get(key) or {})}
    if own.get("Env"):
        out["Env"] = merge_env(own["Env"], out.get("Env") or [])
    if not out.get("Entrypoint"):
        if not out.get("Cmd") and own.get("Cmd"):
            out["Cmd"] = own["Cmd"]
        if "Entrypoint" not in out and own.get("Entrypoint"):
            out["Entrypoint"] = own["Entrypoint"]
    return out


def _pause_for_commit(service, container_id: str) -> bool:
    """Pause a running container for its commit; one that stops meanwhile is committed as it is."""
    try:
        service.pause(container_id)
    except Conflict:  # not running (any more), or paused by someone else, who unpauses it
        return False
    return True


def commit(service, ref: str, *, repo: str | None = None, tag: str | None = None, comment: str = "",
           author: str = "", changes: tuple[str, ...] = (), pause: bool = True, config: dict | None = None) -> str:
    """A new image: the container's image plus one layer holding exactly its changes; its
    config the container's, or `config` (the request's) with `changes` over it and the
    container's for what it leaves unset."""
    from dockyard.builder.changes import apply_changes
    from dockyard.images.compose import write_image, write_layer
    from dockyard.layers.diff import diff_dirs, diff_overlay
    from dockyard.oci.image import new_config, now_rfc3339
    from dockyard.oci.reference import parse_normalized

    c = service.get(ref)
    eng = service.engine
    img = eng.images.get(c.image_id)
    base = eng.images.config(img)
    snaps = eng.snapshots
    own = snaps.root / snaps.need(c.id).dir / "fs"
    parent = snaps.need(c.id).parent
    paused = pause and _pause_for_commit(service, c.id)
    try:
        with eng.images.adding():
            if snaps.whiteout_mode == "overlay":
                layer = write_layer(eng.content, lambda out: diff_overlay(own, out))
            else:
                layer = write_layer(eng.content, lambda out: diff_dirs(snaps.fs(parent) if parent else None, own, out))
            own = _committed(c.config)
            if config:
                cfg = _over(apply_changes(_committed(config), changes), own)
            else:
                cfg = apply_changes(own, changes)
            created = now_rfc3339()
            history = [*(base.get("history") or []),
                       {"created": created, "created_by": " ".join([*(c.config.get("Entrypoint") or []),
                                                                    *(c.config.get("Cmd") or [])]),
                        **({"author": author} if author else {}), **({"comment": comment} if comment else {})}]
            new = new_config([*base["rootfs"]["diff_ids"], layer.diff_id], container_config=cfg, history=history,
                             created=created)
            if author:
                new["author"] = author
            digest = write_image(eng.content, new, [*eng.images.manifest(img)["layers"], layer.descriptor])
            tags = []
            if repo:
                tags = [parse_normalized(f"{repo}:{tag}" if tag else repo)]
            image = eng.images.add_image(digest, tags)
            eng.images.set_parent(image.id, c.image_id)
    finally:
        if paused:
            try:
                service.unpause(c.id)
            except Conflict:  # it stopped while paused
                pass
    service.event(c, "commit", comment=comment or "", imageID=image.id,
                  imageRef=tags[0].familiar if tags else "")
    return image.id

