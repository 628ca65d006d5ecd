"""A BuildKit client of our own, for what no client packaged here asks for: Control.Solve with
exporters whose output the client receives (docker, oci, tar, local) and cache options.

Compose 2.40 (the only BuildKit client obtainable offline) always asks for the image
exporter, and the docker CLI needs the buildx plugin for BuildKit. So this plays buildx's part,
with grpcio on both sides, independent of the engine's own h2/gRPC code: the Control calls go
through a grpcio channel, and the session's services (FileSync for the context, FileSend for
the outputs) are a grpcio server. Each engine connection is the Engine API's HTTP/1.1 upgrade
(POST /grpc, POST /session) spliced onto a connection to or from grpcio over a Unix socket.
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
import threading
from concurrent import futures
from pathlib import Path

import grpc

FILESYNC = "moby.filesync.v1.FileSync"
FILESEND = "moby.filesync.v1.FileSend"
EXPORTER_ID = "buildkit-attachable-exporter-id"
# Go's os.FileMode bits fsutil sends
GO_DIR, GO_SYMLINK = 1 << 31, 1 << 27


def upgrade(engine: Path, endpoint: str, headers: list[tuple[str, str]] = ()) -> tuple[socket.socket, bytes]:
    """POST `endpoint` upgraded to h2c; returns the socket and what came after the 101."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(engine))
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
    s.sendall(f"POST {endpoint} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n{extra}"
              "Content-Length: 0\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(65536)
        assert chunk, head
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s, rest


def splice(a: socket.socket, b: socket.socket, first: bytes = b"") -> None:
    """Copy bytes both ways between two sockets until both sides are done (threads)."""
    def pump(src: socket.socket, dst: socket.socket, pending: bytes) -> None:
        try:
            if pending:
                dst.sendall(pending)
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    threading.Thread(target=pump, args=(a, b, first), daemon=True).start()
    threading.Thread(target=pump, args=(b, a, b""), daemon=True).start()


def _close(sockets: list[socket.socket]) -> None:
    """Shut down first: a close alone wakes no thread blocked reading, and sends no FIN."""
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def _packet():
    from dockyard.buildkit.protos.fsutil_pb2 import Packet
    return Packet


class Session:
    """The client's session: `dirs` (name -> local directory) shared with FileSync, outputs
    (exporter index -> a file path or, for `local`, a directory) received with FileSend."""

    def __init__(self, engine: Path, work: Path, dirs: dict[str, Path], files: dict[int, Path],
                 out_dirs: dict[int, Path]) -> None:
        self.id = secrets.token_hex(12)
        self.dirs, self.files, self.out_dirs = dirs, files, out_dirs
        self.metadata: dict[int, dict[str, str]] = {}  # exporter index -> the headers it came with
        self.server = grpc.server(futures.ThreadPoolExecutor(8))
        self.server.add_generic_rpc_handlers([
            grpc.method_handlers_generic_handler(FILESYNC, {"DiffCopy": grpc.stream_stream_rpc_method_handler(self._sync)}),
            grpc.method_handlers_generic_handler(FILESEND, {"DiffCopy": grpc.stream_stream_rpc_method_handler(self._send)}),
        ])
        path = work / f"session-{self.id}.sock"
        self.server.add_insecure_port(f"unix:{path}")
        self.server.start()
        methods = [f"/{FILESYNC}/DiffCopy", f"/{FILESEND}/DiffCopy"]
        engine_side, rest = upgrade(engine, "/session", [("X-Docker-Expose-Session-Uuid", self.id),
                                                         ("X-Docker-Expose-Session-Name", "test-client"),
                                                         ("X-Docker-Expose-Session-Sharedkey", "k")]
                                    + [("X-Docker-Expose-Session-Grpc-Method", m) for m in methods])
        grpc_side = socket.socket(socket.AF_UNIX)
        grpc_side.connect(str(path))
        self.sockets = [engine_side, grpc_side]
        splice(engine_side, grpc_side, rest)

    def close(self) -> None:
        _close(self.sockets)
        self.server.stop(None)

    # FileSync/DiffCopy: the engine reads a directory of ours (fsutil's sender side)
    def _sync(self, requests, context):
        Packet = _packet()
        meta = dict(context.invocation_metadata())
        root = self.dirs[meta["dir-name"]]
        includes = [v for k, v in context.invocation_metadata() if k == "include-patterns"]
        entries = []
        for top, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(dirs + names):
                rel = os.path.relpath(os.path.join(top, name), root)
                if not includes or rel in includes:
                    entries.append(rel)
        entries.sort(key=lambda rel: rel.split("/"))
        files = {}
        for number, rel in enumerate(entries):
            st = os.lstat(root / rel)
            mode = st.st_mode & 0o777 | (GO_DIR if stat.S_ISDIR(st.st_mode) else 0)
            if stat.S_ISREG(st.st_mode):
                files[number] = root / rel
            yield Packet(type=Packet.PACKET_STAT, stat={"path": rel, "mode": mode, "size": st.st_size,
                                                        "modTime": st.st_mtime_ns}).SerializeToString()
        yield Packet(type=Packet.PACKET_STAT).SerializeToString()
        for raw in requests:
            packet = Packet.FromString(raw)
            if packet.type == Packet.PACKET_REQ:
                yield Packet(type=Packet.PACKET_DATA, ID=packet.ID, data=files[packet.ID].read_bytes()).SerializeToString()
                yield Packet(type=Packet.PACKET_DATA, ID=packet.ID).SerializeToString()
            elif packet.type == Packet.PACKET_FIN:
                yield Packet(type=Packet.PACKET_FIN).SerializeToString()
                return

    # FileSend/DiffCopy: an exporter's output comes to us
    def _send(self, requests, context):
        meta = dict(context.invocation_metadata())
        exporter = int(meta.get(EXPORTER_ID, "0"))
        self.metadata[exporter] = meta
        if exporter not in self.files and exporter not in self.out_dirs:  # buildx's words
            context.abort(grpc.StatusCode.UNKNOWN, f"exporter {exporter} not found")
        if exporter in self.files:
            from dockyard.buildkit.protos.filesync_pb2 import BytesMessage

            with open(self.files[exporter], "wb") as f:
                for raw in requests:
                    f.write(BytesMessage.FromString(raw).data)
            return
        yield from self._receive(iter(requests), self.out_dirs[exporter])

    @staticmethod
    def _receive(requests, dest: Path):
        """fsutil's receiver: the stats, then a REQ for each file, then FIN both ways."""
        Packet = _packet()
        wanted, dirs = {}, []
        for number, raw in enumerate(requests):
            packet = Packet.FromString(raw)
            assert packet.type == Packet.PACKET_STAT, packet
            if not packet.HasField("stat"):
                break
            st = packet.stat
            path = dest / st.path
            if st.mode & GO_DIR:
                path.mkdir()
                dirs.append((path, st.mode & 0o777))
            elif st.mode & GO_SYMLINK:
                os.symlink(st.linkname, path)
            elif st.linkname:
                os.link(dest / st.linkname, path)
            elif not st.mode & 0xFF000000:  # made now, so a later hard link to it can be
                path.touch()
                wanted[number] = (path, st.mode & 0o777)
            else:
                continue
        handles = {}
        for number, (path, _) in wanted.items():
            handles[number] = open(path, "wb")
            yield Packet(type=Packet.PACKET_REQ, ID=number).SerializeToString()
        while handles:
            packet = Packet.FromString(next(requests))
            if packet.data:
                handles[packet.ID].write(packet.data)
            else:
                handles.pop(packet.ID).close()
                os.chmod(wanted[packet.ID][0], wanted[packet.ID][1])
        for path, mode in dirs:
            os.chmod(path, mode)
        yield Packet(type=Packet.PACKET_FIN).SerializeToString()
        assert Packet.FromString(next(requests)).type == Packet.PACKET_FIN


class Control:
    """moby.buildkit.v1.Control through a grpcio channel; each connection grpcio opens is
    spliced onto an upgraded POST /grpc."""

    def __init__(self, engine: Path, work: Path) -> None:
        self.listener = socket.socket(socket.AF_UNIX)
        path = work / f"control-{secrets.token_hex(6)}.sock"
        self.listener.bind(str(path))
        self.listener.listen()
        self.sockets: list[socket.socket] = []

        def accept() -> None:
            while True:
                try:
                    client, _ = self.listener.accept()
                except OSError:
                    return
                engine_side, rest = upgrade(engine, "/grpc")
                self.sockets += [client, engine_side]
                splice(engine_side, client, rest)

        threading.Thread(target=accept, daemon=True).start()
        self.channel = grpc.insecure_channel(f"unix:{path}")

    def solve(self, request, timeout: float = 180):
        from dockyard.buildkit.protos import control_pb2 as pb

        call = self.channel.unary_unary("/moby.buildkit.v1.Control/Solve", request_serializer=pb.SolveRequest.SerializeToString,
                                        response_deserializer=pb.SolveResponse.FromString)
        return call(request, timeout=timeout)

    def status(self, ref: str, timeout: float = 180) -> list:
        from dockyard.buildkit.protos import control_pb2 as pb

        call = self.channel.unary_stream("/moby.buildkit.v1.Control/Status",
                                         request_serializer=pb.StatusRequest.SerializeToString,
                                         response_deserializer=pb.StatusResponse.FromString)
        return list(call(pb.StatusRequest(Ref=ref), timeout=timeout))

    def close(self) -> None:
        self.channel.close()
        _close([self.listener, *self.sockets])
