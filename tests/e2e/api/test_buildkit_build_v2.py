"""POST /build?version=2, as dockerd with BuildKit answers it: the same build, the progress as
`moby.buildkit.trace` aux messages (base64 StatusResponse protobufs) and the image in
`moby.image.id`; a failure as errorDetail in BuildKit's words; a session context refused."""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import tarfile

import pytest

pytestmark = pytest.mark.root


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("docker", timeout=120)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


def _build(api, query: str, files: dict[str, str]) -> tuple[int, list[dict]]:
    conn = _UnixConnection(str(api.sock))
    conn.request("POST", f"/v1.47/build?version=2&{query}", body=_tar(files),
                 headers={"Content-Type": "application/x-tar"})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, [json.loads(line) for line in body.splitlines() if line.strip()]


def test_build_version_2(api, busybox):
    from dockyard.buildkit.protos.control_pb2 import StatusResponse

    status, messages = _build(api, "t=v2:1&buildargs=%7B%22X%22%3A%22ex%22%7D",
                              {"Dockerfile": "FROM busybox\nARG X\nRUN echo out-$X\nCOPY a.txt /a.txt\n",
                               "a.txt": "a\n"})
    assert status == 200
    traces = [StatusResponse.FromString(base64.b64decode(m["aux"])) for m in messages
              if m.get("id") == "moby.buildkit.trace"]
    names = [v.name for t in traces for v in t.vertexes]
    assert "[2/3] RUN echo out-$X" in names, names
    assert any(log.msg == b"out-ex\n" for t in traces for log in t.logs)
    (image_id,) = [m["aux"]["ID"] for m in messages if m.get("id") == "moby.image.id"]
    assert api.docker("image", "inspect", "-f", "{{.Id}}", "v2:1").out.strip() == image_id
    assert api.docker("run", "--rm", "v2:1", "cat", "/a.txt").out == "a\n"

    status, messages = _build(api, "t=v2:bad", {"Dockerfile": "FROM busybox\nRUN exit 4\n"})
    assert status == 200
    assert messages[-1]["error"] == 'process "/bin/sh -c exit 4" did not complete successfully: exit code: 4'
    assert api.docker("images", "-q", "v2:bad").out == ""

    status, messages = _build(api, "remote=client-session&session=abc", {})
    assert status == 400 and "BuildKit clients build over POST /grpc" in messages[0]["message"]
