"""BuildKit's exporters whose output the client receives, over its session: `docker` and `oci`
(image tarballs skopeo and umoci read), `tar` (the root filesystem as a tar), `local` (the root
filesystem into a directory of the client's), several at once in one Solve, each to the output
its index names; the image exporter's media types and compression.

No client packaged here asks for these (compose 2.40 always asks for the image exporter, the
docker CLI needs buildx), so tests/helpers/buildkit_client.py plays buildx's part with grpcio.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import grpc
import pytest

from tests.helpers.buildkit_client import Control, Session

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM busybox AS base
RUN echo from-another-stage > /base
FROM busybox
COPY --from=base /base /out/base.txt
COPY note.txt /out/note.txt
RUN mkdir -p /out/sub && echo hello > /out/hello.txt && ln -s hello.txt /out/link && \\
    echo deep > /out/sub/deep.txt && chmod 0750 /out/sub && ln /out/hello.txt /out/hard
"""


@pytest.fixture
def client(api, busybox, tmp_path: Path):
    work = tmp_path / "client"
    work.mkdir()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "note.txt").write_text("from the context\n")
    control = Control(api.sock, work)
    sessions = []

    def solve(exporters, files=None, dirs=None, **attrs):
        from dockyard.buildkit.protos import control_pb2 as pb

        session = Session(api.sock, work, {"context": ctx, "dockerfile": ctx}, files or {}, dirs or {})
        sessions.append(session)
        request = pb.SolveRequest(Ref=f"ref-{len(sessions)}", Session=session.id, Frontend="dockerfile.v0",
                                  FrontendAttrs={"filename": "Dockerfile", **attrs},
                                  Exporters=[pb.Exporter(Type=t, Attrs=a) for t, a in exporters])
        return control.solve(request), session

    yield solve, control
    control.close()
    for session in sessions:
        session.close()


def test_docker_oci_tar_local_and_image_in_one_solve(api, dy, client, tmp_path: Path):
    solve, control = client
    out = tmp_path / "out"
    out.mkdir()
    files = {0: out / "docker.tar", 1: out / "oci.tar", 2: out / "rootfs.tar"}
    local = out / "local"
    local.mkdir()
    reply, session = solve([("docker", {"name": "exp/docker:1"}), ("oci", {"name": "exp/oci:1"}), ("tar", {}),
                            ("local", {}), ("image", {"name": "exp/stored:1,exp/stored:2"})],
                           files=files, dirs={3: local})
    response = dict(reply.ExporterResponse)
    assert response["image.name"] == "exp/stored:1,exp/stored:2"

    # the docker-archive: skopeo reads it, and it loads as the image the store has
    inspect = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{files[0]}"], check=True,
                                        capture_output=True, text=True).stdout)
    stored = api.docker("image", "inspect", "-f", "{{.Id}}", "exp/stored:1").out.strip()
    assert api.docker("image", "inspect", "-f", "{{.Id}}", "exp/stored:2").out.strip() == stored
    assert inspect["Layers"] and inspect["Os"] == "linux"
    assert session.metadata[0]["exporter-md-image.name"] == "exp/docker:1"
    api.docker("rmi", "exp/stored:1", "exp/stored:2")
    loaded = api.docker("load", "-i", str(files[0])).out
    assert "exp/docker:1" in loaded
    assert api.docker("image", "inspect", "-f", "{{.Id}}", "exp/docker:1").out.strip() == stored

    # the OCI layout: umoci unpacks it by its ref name, with the files the build made
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(files[1]) as tar:
        tar.extractall(layout)
    index = json.loads((layout / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "1"
    assert entry["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert session.metadata[1]["exporter-md-containerimage.digest"] == entry["digest"]
    subprocess.run(["umoci", "raw", "unpack", "--rootless", "--image", f"{layout}:1", str(tmp_path / "unpacked")],
                   check=True, capture_output=True)
    assert (tmp_path / "unpacked" / "out" / "sub" / "deep.txt").read_text() == "deep\n"

    # tar: the final stage's root filesystem, names relative, links kept
    with tarfile.open(files[2]) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("out/note.txt").read() == b"from the context\n"
    assert {"bin/busybox", "etc/passwd"} <= set(members)
    assert {n for n in members if n.startswith("out/")} == {"out/base.txt", "out/hello.txt", "out/link", "out/hard",
                                                            "out/sub", "out/sub/deep.txt", "out/note.txt"}
    assert members["out/link"].issym() and members["out/link"].linkname == "hello.txt"
    assert members["out/hello.txt"].islnk() and members["out/hello.txt"].linkname == "out/hard"  # "hard" came first
    assert members["out/sub"].isdir() and members["out/sub"].mode & 0o777 == 0o750

    # local: the same tree in the client's directory, file modes, symlinks and hard links as built
    tree = local / "out"
    assert sorted(os.listdir(tree)) == ["base.txt", "hard", "hello.txt", "link", "note.txt", "sub"]
    assert (tree / "hello.txt").read_text() == "hello\n" and (tree / "sub" / "deep.txt").read_text() == "deep\n"
    assert (tree / "base.txt").read_text() == "from-another-stage\n"
    assert os.readlink(tree / "link") == "hello.txt"
    assert os.stat(tree / "sub").st_mode & 0o777 == 0o750
    assert os.stat(tree / "hard").st_ino == os.stat(tree / "hello.txt").st_ino
    assert subprocess.run([str(local / "bin" / "busybox"), "true"]).returncode == 0  # executable, whole

    # the Status stream shows the exports as steps of the same build; the rootfs views are gone
    names = [v.name for update in control.status("ref-1") for v in update.vertexes]
    assert "sending tarball" in names and "copying files" in names
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    assert not [m for m in mounts if m.startswith((str(dy.root) + "/", str(dy.run_dir) + "/"))]


def test_oci_media_types_and_compression(api, client, tmp_path: Path):
    solve, _ = client
    files = {0: tmp_path / "zstd.tar", 1: tmp_path / "schema2.tar"}
    solve([("oci", {"compression": "zstd", "name": "exp/z:1"}), ("oci", {"oci-mediatypes": "false", "name": "exp/d:1"})],
          files=files)
    for path, manifest_type, layer_type in (
            (files[0], "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.layer.v1.tar+zstd"),
            (files[1], "application/vnd.docker.distribution.manifest.v2+json",
             "application/vnd.docker.image.rootfs.diff.tar.gzip")):
        raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{path}"], check=True,
                             capture_output=True, text=True).stdout
        manifest = json.loads(raw)
        assert manifest["mediaType"] == manifest_type
        assert {layer["mediaType"] for layer in manifest["layers"]} == {layer_type}
    # skopeo copies it whole: every blob's digest checks, the zstd layers included
    subprocess.run(["skopeo", "copy", f"oci-archive:{files[0]}", f"oci:{tmp_path / 'copy'}:1"], check=True,
                   capture_output=True)


def test_exporter_errors(api, client, tmp_path: Path):
    solve, _ = client
    with pytest.raises(grpc.RpcError) as err:  # the output the exporter names is not the client's
        solve([("tar", {})], files={})
    assert err.value.code() == grpc.StatusCode.UNKNOWN and "exporter 0 not found" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        solve([("image", {"push": "maybe"})])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "non-bool value specified for push"
    with pytest.raises(grpc.RpcError) as err:
        solve([("image", {"push": "true"})])
    assert "push requires a name" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:  # refused before anything is built
        solve([("docker", {"name": "Not:A:Valid:Name"})], files={0: tmp_path / "never.tar"})
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "invalid reference format" in err.value.details()
    assert not (tmp_path / "never.tar").exists()
    assert "Traceback" not in api.log
