"""The receiving end of fsutil's DiffCopy: a client's directory (the build context, the
Dockerfile's directory) copied into a local one over its session.

The sender walks its directory (filtered by the include/exclude patterns and follow paths we
pass as call metadata) and sends one STAT packet per entry, then an empty STAT. Entries are
numbered in that order; we ask for each regular file's bytes with a REQ packet of its number
and get DATA packets back, an empty one ending the file. A FIN from us, answered by a FIN,
ends the call. Modes are Go's os.FileMode bits, not st_mode.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from dockyard.buildkit.h2grpc import Connection, GrpcError, INVALID_ARGUMENT

DIFFCOPY = "/moby.filesync.v1.FileSync/DiffCopy"

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
            raw = await stream.recv()
            if raw is None:
                conn.status(stream)
                raise GrpcError(INVALID_ARGUMENT, f"file sync of {name!r} ended early")
            packet = Packet.FromString(raw)
            if packet.type == Packet.PACKET_ERR:
                raise GrpcError(INVALID_ARGUMENT, f"file sync of {name!r}: {packet.data.decode(errors='replace')}")
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
            raw = await stream.recv()
            if raw is None:
                conn.status(stream)
                raise GrpcError(INVALID_ARGUMENT, f"file sync of {name!r} ended early")
            packet = Packet.FromString(raw)
            if packet.type == Packet.PACKET_ERR:
                raise GrpcError(INVALID_ARGUMENT, f"file sync of {name!r}: {packet.data.decode(errors='replace')}")
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
