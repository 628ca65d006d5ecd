"""The BuildKit endpoints on the wire, with the `h2` library as an independent client: the
HTTP/1.1 upgrade to h2c, the Control calls buildx makes besides a build (ListWorkers, Info,
DiskUsage, Prune), the gRPC errors for what is not served, and `_ping`'s Builder-Version
following daemon.json's features.buildkit."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.api.conftest import start_server

pytestmark = pytest.mark.root
CONTROL = "/moby.buildkit.v1.Control/"


def _upgrade(sock_path: Path, endpoint: str = "/grpc", upgrade: str = "h2c") -> tuple[socket.socket, bytes]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(str(sock_path))
    s.sendall(f"POST {endpoint} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: {upgrade}\r\n"
              "Content-Length: 0\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def grpc_call(sock_path: Path, method: str, request: bytes) -> tuple[list[bytes], int, str]:
    """One call on a fresh connection: (reply messages, grpc-status, grpc-message)."""
    s, head = _upgrade(sock_path)
    assert head.startswith(b"HTTP/1.1 101 "), head
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", method), (":authority", "docker"),
                            ("content-type", "application/grpc"), ("te", "trailers")])
    conn.send_data(sid, struct.pack(">BI", 0, len(request)) + request, end_stream=True)
    s.sendall(conn.data_to_send())
    data, trailers, ended = b"", {}, False
    while not ended:
        chunk = s.recv(65536)
        assert chunk, "the server closed the connection mid-call"
        for event in conn.receive_data(chunk):
            if isinstance(event, h2.events.DataReceived):
                data += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, (h2.events.TrailersReceived, h2.events.ResponseReceived)):
                trailers.update(dict(event.headers))
            elif isinstance(event, h2.events.StreamEnded):
                ended = True
        s.sendall(conn.data_to_send())
    s.close()
    messages = []
    while data:
        _, length = struct.unpack(">BI", data[:5])
        messages.append(data[5:5 + length])
        data = data[5 + length:]
    return messages, int(trailers.get("grpc-status", -1)), unquote(trailers.get("grpc-message", ""))


def test_workers_info_and_errors(api, busybox):
    from dockyard.buildkit.protos import control_pb2 as pb

    replies, status, _ = grpc_call(api.sock, CONTROL + "ListWorkers", pb.ListWorkersRequest().SerializeToString())
    assert status == 0
    (worker,) = pb.ListWorkersResponse.FromString(replies[0]).record
    assert worker.platforms[0].OS == "linux" and worker.platforms[0].Architecture
    replies, status, _ = grpc_call(api.sock, CONTROL + "Info", pb.InfoRequest().SerializeToString())
    assert status == 0 and pb.InfoResponse.FromString(replies[0]).buildkitVersion.version

    not_served = {
        "exporter 'registry' is not served": pb.SolveRequest(Ref="r1", Exporters=[pb.Exporter(Type="registry")]),
        "LLB definitions are not served": pb.SolveRequest(Ref="r2", Definition={"def": [b"\x0a\x00"]}),
        "frontend 'gateway.v0' is not served": pb.SolveRequest(Ref="r3", Frontend="gateway.v0"),
        "cache export type=s3 is not served": pb.SolveRequest(Ref="r5", Cache=pb.CacheOptions(
            Exports=[pb.CacheOptionsEntry(Type="s3", Attrs={"bucket": "b"})])),
        "cache import type=gha is not served": pb.SolveRequest(Ref="r8", Cache=pb.CacheOptions(
            Imports=[pb.CacheOptionsEntry(Type="gha")])),
        "push-by-digest is not served": pb.SolveRequest(Ref="r4", Exporters=[
            pb.Exporter(Type="image", Attrs={"name": "x", "push": "true", "push-by-digest": "true"})]),
        "tar=false (into the client's content store) is not served": pb.SolveRequest(Ref="r6", Exporters=[
            pb.Exporter(Type="oci", Attrs={"tar": "false"})]),
        "compression=estargz is not served": pb.SolveRequest(Ref="r7", Exporters=[
            pb.Exporter(Type="image", Attrs={"compression": "estargz"})]),
    }
    for words, request in not_served.items():
        _, status, message = grpc_call(api.sock, CONTROL + "Solve", request.SerializeToString())
        assert status == 12 and words in message, (status, message)  # UNIMPLEMENTED
    _, status, message = grpc_call(api.sock, "/moby.buildkit.v1.Control/ListenBuildHistory", b"")
    assert status == 12 and "unknown method" in message

    s, head = _upgrade(api.sock, upgrade="websocket")
    assert head.startswith(b"HTTP/1.1 400 ") and b"wants an upgrade to h2c" in head
    s.close()
    s, head = _upgrade(api.sock)  # upgraded, then not HTTP/2: the connection is closed, nothing else
    s.sendall(b"NOT HTTP/2 AT ALL\r\n\r\n" * 3)
    while s.recv(4096):
        pass
    s.close()
    s, head = _upgrade(api.sock, endpoint="/session")
    assert head.startswith(b"HTTP/1.1 400 ") and b"no X-Docker-Expose-Session-Uuid" in head
    s.close()
    assert "Traceback" not in api.log


def test_disk_usage_and_prune_of_the_build_cache(api, busybox):
    from dockyard.buildkit.protos import control_pb2 as pb

    api.docker("build", "-t", "cached", "-", input="FROM busybox\nRUN echo x > /x\n")
    replies, status, _ = grpc_call(api.sock, CONTROL + "DiskUsage", pb.DiskUsageRequest().SerializeToString())
    (record,) = pb.DiskUsageResponse.FromString(replies[0]).record
    assert status == 0 and record.UsageCount >= 1
    replies, status, _ = grpc_call(api.sock, CONTROL + "Prune", pb.PruneRequest(all=True).SerializeToString())
    assert status == 0 and pb.UsageRecord.FromString(replies[0]).ID
    replies, status, _ = grpc_call(api.sock, CONTROL + "DiskUsage", pb.DiskUsageRequest().SerializeToString())
    assert status == 0 and not pb.DiskUsageResponse.FromString(replies[0]).record


def test_builder_version_follows_daemon_json(dy, busybox, tmp_path: Path):
    def ping(sock: Path) -> str:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        head = b""
        while chunk := s.recv(4096):
            head += chunk
        s.close()
        return next(line.split(":", 1)[1].strip() for line in head.decode().split("\r\n")
                    if line.lower().startswith("builder-version:"))

    config = dy.root / "daemon.json"
    doc = json.loads(config.read_text())
    for enabled, expected in ((True, "2"), (False, "1")):
        config.write_text(json.dumps({**doc, "features": {"buildkit": enabled}}))
        sock = tmp_path / f"s{expected}" / "d.sock"
        sock.parent.mkdir()
        proc = start_server(dy, sock)
        try:
            assert ping(sock) == expected
            s, head = _upgrade(sock)  # served either way, as dockerd's: only the advertised builder changes
            assert head.startswith(b"HTTP/1.1 101 ")
            s.close()
        finally:
            proc.terminate()
            proc.wait(10)
