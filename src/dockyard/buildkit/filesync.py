"""fsutil's DiffCopy both ways over a client's session, and FileSend's byte stream.

Receiving (FileSync/DiffCopy): a client's directory (the build context, the Dockerfile's
directory) copied into a local one.

The sender walks its directory (filtered by the include/exclude patterns and follow paths we
pass as call metadata) and sends one STAT packet per entry, then an empty STAT. Entries are
numbered in that order; we ask for each regular file's bytes with a REQ packet of its number
and get DATA packets back, an empty one ending the file. A FIN from us, answered by a FIN,
ends the call. Modes are Go's os.FileMode bits, not st_mode.

Sending (FileSend/DiffCopy, the `local` exporter): the same packets the other way round, the
engine walking a directory. A tar-like exporter's output goes over FileSend/DiffCopy too, as
BytesMessage chunks. Either call names its exporter (the index of the Solve's exporter) in the
`buildkit-attachable-exporter-id` header, so a client with several outputs knows which is which.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from dockyard.buildkit.h2grpc import Connection, GrpcError, INVALID_ARGUMENT

DIFFCOPY = "/moby.filesync.v1.FileSync/DiffCopy"
FILESEND = "/moby.filesync.v1.FileSend/DiffCopy"
EXPORTER_ID = "buildkit-attachable-exporter-id"
EXPORTER_META = "exporter-md-"
CHUNK = 1 << 20

# Go's os.FileMode type and permission bits
_DIR, _SYMLINK, _DEVICE, _PIPE, _SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_SETUID, _SETGID, _CHARDEV, _STICKY, _IRREGULAR = 1 << 23, 1 << 22, 1 << 21, 1 << 20, 1 << 19
_TYPE = _DIR | _SYMLINK | _DEVICE | _PIPE | _SOCKET | _CHARDEV | _IRREGULAR


def _metadata(name: str, includes: list[str], excludes: list[str], follow: list[str]) -> dict[str, list[str]]:
    """The call's options as BuildKit encodes them: a value that is not plain ASCII is
    query-escaped, and `KEY-encoded: 1` says so."""
    out: dict[str, list[str]] = {}
    for key, values in (("dir-name", [name]), ("include-patterns", includes), ("exclude-patterns", excludes),
                        ("followpaths", follow)):
        if not values:
            continue
        if all(v.isascii() and v.isprintable() for v in values):
            out[key] = list(values)
        else:
            out[key] = [quote(v) for v in values]
            out[key + "-encoded"] = ["1"]
    return out


def _go_mode(st: os.stat_result) -> int:
    """st_mode as Go's os.FileMode."""
    mode = st.st_mode & 0o777
    kind = stat.S_IFMT(st.st_mode)
    mode |= {stat.S_IFDIR: _DIR, stat.S_IFLNK: _SYMLINK, stat.S_IFBLK: _DEVICE, stat.S_IFCHR: _DEVICE | _CHARDEV,
             stat.S_IFIFO: _PIPE, stat.S_IFSOCK: _SOCKET}.get(kind, 0)
    for bit, go in ((stat.S_ISUID, _SETUID), (stat.S_ISGID, _SETGID), (stat.S_ISVTX, _STICKY)):
        if st.st_mode & bit:
            mode |= go
    return mode


def _perm(mode: int) -> int:
    perm = mode & 0o777
    if mode & _SETUID:
        perm |= 0o4000
    if mode & _SETGID:
        perm |= 0o2000
    if mode & _STICKY:
        perm |= 0o1000
    return perm


def _local(dest: Path, path: str) -> Path:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise GrpcError(INVALID_ARGUMENT, f"file sync: the client sent an unsafe path {path!r}")
    return dest.joinpath(*rel.parts)


async def _next_packet(conn: Connection, stream, name: str):
    """The sender's next packet; its end before ours, or an ERR packet, is the client's error."""
    from dockyard.buildkit.protos.fsutil_pb2 import Packet

    raw = await stream.recv()
    if raw is None:
        conn.status(stream)
        raise GrpcError(INVALID_ARGUMENT, f"file sync of {name!r} ended early")
    packet = Packet.FromString(raw)
    if packet.type == Packet.PACKET_ERR:
        raise GrpcError(INVALID_ARGUMENT, f"file sync of {name!r}: {packet.data.decode(errors='replace')}")
    return packet


async def receive(conn: Connection, name: str, dest: Path, includes: list[str] = (),
                  excludes: list[str] = (), follow: list[str] = ()) -> int:
    """Copy the client's directory `name` into `dest` (which exists); returns the bytes copied."""
    from dockyard.buildkit.protos.fsutil_pb2 import Packet

    stream = await conn.call(DIFFCOPY, _metadata(name, list(includes), list(excludes), list(follow)))
    files: dict[int, tuple[Path, object]] = {}
    times: list[tuple[Path, int]] = []
    handles: dict[int, object] = {}
    index, total = 0, 0
    try:
        while True:  # the listing
            packet = await _next_packet(conn, stream, name)
            if packet.type != Packet.PACKET_STAT:
                continue
            if not packet.HasField("stat"):
                break
            st, number = packet.stat, index
            index += 1
            path = _local(dest, st.path)
            if st.mode & _DIR:
                path.mkdir(exist_ok=True)
                os.chmod(path, _perm(st.mode) | 0o700)  # writable by us until the build is done
                times.append((path, st.modTime))
            elif st.mode & _SYMLINK:
                os.symlink(st.linkname, path)
            elif not st.mode & _TYPE:
                files[number] = (path, st)
            # devices, pipes and sockets in a context are left out, as Docker's tar of it does
        for number, (path, st) in files.items():
            handles[number] = open(path, "wb")
            await stream.send(Packet(type=Packet.PACKET_REQ, ID=number).SerializeToString())
        while handles:
            packet = await _next_packet(conn, stream, name)
            if packet.type != Packet.PACKET_DATA or packet.ID not in handles:
                continue
            if packet.data:
                handles[packet.ID].write(packet.data)
                total += len(packet.data)
                continue
            handles.pop(packet.ID).close()
            path, st = files[packet.ID]
            os.chmod(path, _perm(st.mode))
            os.utime(path, ns=(st.modTime, st.modTime))
        await stream.send(Packet(type=Packet.PACKET_FIN).SerializeToString())
        while (raw := await stream.recv()) is not None:
            if Packet.FromString(raw).type == Packet.PACKET_FIN:
                break
        conn.close_send(stream)
    finally:
        for handle in handles.values():
            handle.close()
        conn.streams.pop(stream.id, None)
    for path, mtime in reversed(times):
        os.utime(path, ns=(mtime, mtime))
    return total


def _walk(root: Path) -> list[tuple[str, Path, os.stat_result]]:
    """Every entry under `root` in the order fsutil's receiver checks: depth first, each
    directory's entries by name, a directory before what it holds."""
    out = []

    def visit(rel: str, path: Path) -> None:
        for name in sorted(os.listdir(path)):
            child, child_rel = path / name, f"{rel}{name}"
            st = os.lstat(child)
            out.append((child_rel, child, st))
            if os.path.isdir(child) and not os.path.islink(child):
                visit(child_rel + "/", child)

    visit("", root)
    return out


def _stats(root: Path):
    """The STAT packets of `root`'s tree and which entry numbers are files to send: (packets,
    {number: path}). A second name of a file is sent as a hard link to its first."""
    from dockyard.buildkit.protos.fsutil_pb2 import Packet, Stat

    packets, files, seen = [], {}, {}
    for number, (rel, path, st) in enumerate(_walk(root)):
        mode = _go_mode(st)
        entry = Stat(path=rel, mode=mode, uid=st.st_uid, gid=st.st_gid, size=st.st_size, modTime=st.st_mtime_ns)
        if mode & _SYMLINK:
            entry.linkname = os.readlink(path)
        elif mode & _DEVICE:
            entry.devmajor, entry.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif not mode & _TYPE:
            if st.st_nlink > 1 and (st.st_dev, st.st_ino) in seen:
                entry.linkname, entry.size = seen[(st.st_dev, st.st_ino)], 0
            else:
                seen[(st.st_dev, st.st_ino)] = rel
                files[number] = path
        try:
            for attr in os.listxattr(path, follow_symlinks=False):
                entry.xattrs[attr] = os.getxattr(path, attr, follow_symlinks=False)
        except OSError:
            pass
        packets.append(Packet(type=Packet.PACKET_STAT, stat=entry))
    return packets, files


async def send(conn: Connection, root: Path, exporter_id: int) -> int:
    """Copy the directory `root` to the client's FileSend target `exporter_id` (the `local`
    exporter); returns the bytes sent."""
    from dockyard.buildkit.protos.fsutil_pb2 import Packet

    loop = asyncio.get_running_loop()
    packets, files = await loop.run_in_executor(None, _stats, root)
    stream = await conn.call(FILESEND, {EXPORTER_ID: [str(exporter_id)]})
    total = 0
    try:
        for packet in packets:
            await stream.send(packet.SerializeToString())
        await stream.send(Packet(type=Packet.PACKET_STAT).SerializeToString())
        while True:
            raw = await stream.recv()
            if raw is None:
                conn.status(stream)
                raise GrpcError(INVALID_ARGUMENT, "the client ended the local export early")
            packet = Packet.FromString(raw)
            if packet.type == Packet.PACKET_ERR:
                raise GrpcError(INVALID_ARGUMENT, f"error from receiver: {packet.data.decode(errors='replace')}")
            if packet.type == Packet.PACKET_FIN:
                await stream.send(Packet(type=Packet.PACKET_FIN).SerializeToString())
                break
            if packet.type != Packet.PACKET_REQ:
                continue
            path = files.pop(packet.ID, None)
            if path is None:
                raise GrpcError(INVALID_ARGUMENT, f"invalid file id {packet.ID}")
            with open(path, "rb") as f:
                while data := await loop.run_in_executor(None, f.read, CHUNK):
                    await stream.send(Packet(type=Packet.PACKET_DATA, ID=packet.ID, data=data).SerializeToString())
                    total += len(data)
            await stream.send(Packet(type=Packet.PACKET_DATA, ID=packet.ID).SerializeToString())
        conn.close_send(stream)
        while await stream.recv() is not None:
            pass
        conn.status(stream)
    finally:
        conn.streams.pop(stream.id, None)
    return total


class FileWriter:
    """A byte stream to the client's FileSend target (tar-like exporters), written from a
    build thread: `write` blocks while the client catches up; `close` waits for the client
    to have taken it all."""

    def __init__(self, conn: Connection, stream, loop) -> None:
        self.conn, self.stream, self.loop = conn, stream, loop
        self.buffer = bytearray()
        self.size = 0

    @classmethod
    async def open(cls, conn: Connection, exporter_id: int, meta: dict[str, str]) -> "FileWriter":
        headers = {EXPORTER_META + k: [v] for k, v in meta.items()}
        headers[EXPORTER_ID] = [str(exporter_id)]
        return cls(conn, await conn.call(FILESEND, headers), asyncio.get_running_loop())

    def write(self, data) -> int:
        self.buffer += data
        if len(self.buffer) >= CHUNK:
            self._flush()
        return len(data)

    def _flush(self) -> None:
        from dockyard.buildkit.protos.filesync_pb2 import BytesMessage

        if self.buffer:
            message = BytesMessage(data=bytes(self.buffer)).SerializeToString()
            self.size += len(self.buffer)
            self.buffer.clear()
            if self.stream.ended:  # the client answered before taking it all: its error
                self.conn.status(self.stream)
                raise GrpcError(INVALID_ARGUMENT, "the client ended the output early")
            try:
                asyncio.run_coroutine_threadsafe(self.stream.send(message), self.loop).result()
            except ConnectionResetError:
                self.conn.status(self.stream)
                raise

    def close(self) -> None:
        """Flush, end our side, and wait for the client's status (its error, if any)."""
        self._flush()

        async def finish() -> None:
            try:
                self.conn.close_send(self.stream)
                while await self.stream.recv() is not None:
                    pass
                self.conn.status(self.stream)
            finally:
                self.conn.streams.pop(self.stream.id, None)

        asyncio.run_coroutine_threadsafe(finish(), self.loop).result()

    def abandon(self) -> None:
        """Give up after a failure: the client sees the call reset, never a complete file."""
        def reset() -> None:
            self.conn.reset(self.stream.id)
            self.conn.streams.pop(self.stream.id, None)

        self.loop.call_soon_threadsafe(reset)
