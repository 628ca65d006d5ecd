"""Multi-platform images end to end: a busybox index of amd64 and arm64 assembled with
`dockyard manifest`, read by the docker CLI and skopeo, pulled per platform into fresh roots,
and the arm64 image run under QEMU user emulation."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Dockyard
from tests.integration.distribution.test_cli_push_pull import running_registry

pytestmark = pytest.mark.root

DOCKER = "/usr/local/bin/docker"


@pytest.fixture
def multi(dy: Dockyard, tmp_path: Path):
    """A registry holding `bb:amd64`, `bb:arm64` and the index `bb:multi` of both; yields (host, dy)."""
    dy.env["DOCKER_CONFIG"] = str(tmp_path / "dy-config")
    with running_registry(dy, tmp_path / "reg") as host:
        for arch in ("amd64", "arm64"):
            dy("image", "bootstrap", "busybox", arch, "--arch", arch)
            dy("tag", f"busybox:{arch}", f"{host}/bb:{arch}")
            dy("push", f"{host}/bb:{arch}")
        assert dy("manifest", "create", f"{host}/bb:multi", f"{host}/bb:amd64",
                  f"{host}/bb:arm64").out == f"Created manifest list {host}/bb:multi\n"
        yield host, dy


def docker(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=60)


def test_manifest_commands_match_the_docker_cli(multi, tmp_path):
    host, dy = multi
    r = docker(tmp_path, "manifest", "create", "--insecure", f"{host}/bb:multi", f"{host}/bb:amd64", f"{host}/bb:arm64")
    assert r.returncode == 0, r.stderr
    for args in (["inspect"], ["inspect", "-v"]):
        ours = dy("manifest", *args, f"{host}/bb:multi").out
        assert ours == docker(tmp_path, "manifest", *args, f"{host}/bb:multi").stdout
    for tool in (dy, lambda *a: docker(tmp_path, *a)):
        tool("manifest", "annotate", f"{host}/bb:multi", f"{host}/bb:arm64", "--os-features", "f1")
    assert dy("manifest", "inspect", f"{host}/bb:multi").out == \
        docker(tmp_path, "manifest", "inspect", f"{host}/bb:multi").stdout
    ours = dy("manifest", "push", f"{host}/bb:multi").out.strip()
    theirs = docker(tmp_path, "manifest", "push", "--insecure", f"{host}/bb:multi").stdout.strip()
    assert ours == theirs and ours.startswith("sha256:"), "the same list, byte for byte"
    # what the registry now holds, read by the docker CLI and skopeo
    remote = json.loads(docker(tmp_path, "manifest", "inspect", "--insecure", f"{host}/bb:multi").stdout)
    assert [m["platform"]["architecture"] for m in remote["manifests"]] == ["amd64", "arm64"]
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{host}/bb:multi"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(raw) == remote
    # errors, in the docker CLI's words
    r = dy("manifest", "create", f"{host}/bb:multi", f"{host}/bb:amd64", check=False)
    assert r.code != 0 and "refusing to amend an existing manifest list with no --amend flag" in r.err
    r = dy("manifest", "annotate", f"{host}/bb:multi", f"{host}/bb:amd64", "--arch", "weird", check=False)
    assert "unsupported os/arch combination: linux/weird" in r.err
    dy("manifest", "rm", f"{host}/bb:multi")
    r = dy("manifest", "rm", f"{host}/bb:multi", check=False)
    assert r.code != 0 and f"No such manifest: {host}/bb:multi" in r.err


def test_pull_each_platform_and_run_arm64_under_emulation(multi, tmp_path):
    host, dy = multi
    dy("manifest", "push", f"{host}/bb:multi")
    fresh = Dockyard(tmp_path / "fresh", dy.run_dir)
    try:
        fresh("pull", "--platform", "linux/arm64", f"{host}/bb:multi")
        assert fresh("image", "inspect", "-f", "{{.Architecture}}/{{.Variant}}", f"{host}/bb:multi").out == "arm64/v8\n"
        assert fresh("run", "--rm", f"{host}/bb:multi", "uname", "-m").out == "aarch64\n"
        r = fresh("run", "--rm", "--pull", "never", "--platform", "linux/s390x", f"{host}/bb:multi", "true", check=False)
        assert ("wanted linux/s390x, actual: linux/arm64/v8") in r.err
        r = fresh("run", "--rm", "--pull", "never", "--platform", "linux/amd64", f"{host}/bb:multi", "true", check=False)
        assert r.code == 125 and ("image with reference " f"{host}/bb:multi was found but does not match the specified "
                                  "platform: wanted linux/amd64, actual: linux/arm64/v8") in r.err
        # run --platform pulls the platform it lacks; the index keeps both, one row in `images`
        assert fresh("run", "--rm", "--platform", "linux/amd64", f"{host}/bb:multi", "uname", "-m").out == "x86_64\n"
        assert fresh("run", "--rm", "--platform", "linux/arm64", f"{host}/bb:multi", "uname", "-m").out == "aarch64\n"
        assert fresh("images", "--format", "{{.Repository}}:{{.Tag}}").out.split() == [f"{host}/bb:multi"]
        fresh("rmi", f"{host}/bb:multi")
        assert fresh("images", "-q").out == "", "the platforms beneath the index went with its tag"
    finally:
        fresh.cleanup()


DOCKERFILE = """\
ARG TARGETARCH
FROM busybox:$TARGETARCH
ARG TARGETPLATFORM
RUN echo "$TARGETPLATFORM $(uname -m)" > /built-on
"""


def test_build_two_platforms_push_index_pull_each(dy: Dockyard, tmp_path):
    """The issue's acceptance path: one build for amd64 and arm64 into an index, pushed; each
    platform pulled into a fresh root; the arm64 one runs under emulation."""
    for arch in ("amd64", "arm64"):
        dy("image", "bootstrap", "busybox", arch, "--arch", arch)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(DOCKERFILE)
    with running_registry(dy, tmp_path / "reg") as host:
        dy("build", "--platform", "linux/amd64,linux/arm64", "-t", f"{host}/app:1", "--push", str(tmp_path / "ctx"))
        remote = json.loads(docker(tmp_path, "manifest", "inspect", "--insecure", f"{host}/app:1").stdout)
        assert remote["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert [m["platform"] for m in remote["manifests"]] == [
            {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}]
        raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{host}/app:1"],
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(raw) == remote
        for platform, expected in (("linux/arm64", "linux/arm64/v8 aarch64"), ("linux/amd64", "linux/amd64 x86_64")):
            fresh = Dockyard(tmp_path / platform.replace("/", "-"), dy.run_dir)
            try:
                fresh("pull", "--platform", platform, f"{host}/app:1")
                assert fresh("run", "--rm", f"{host}/app:1", "cat", "/built-on").out == expected + "\n"
            finally:
                fresh.cleanup()


def test_save_and_load_keep_the_index_whole(dy: Dockyard, tmp_path):
    for arch in ("amd64", "arm64"):
        dy("image", "bootstrap", "busybox", arch, "--arch", arch)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(DOCKERFILE)
    dy("build", "-q", "--platform", "linux/arm64,linux/amd64", "-t", "multi:1", str(tmp_path / "ctx"))
    dy("save", "--format", "oci", "-o", str(tmp_path / "multi.tar"), "multi:1")
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{tmp_path / 'multi.tar'}"],
                         capture_output=True, text=True, check=True).stdout
    assert [m["platform"]["architecture"] for m in json.loads(raw)["manifests"]] == ["arm64", "amd64"]
    fresh = Dockyard(tmp_path / "fresh", dy.run_dir)
    try:
        assert fresh("load", "-i", str(tmp_path / "multi.tar")).out == "Loaded image: multi:1\n"
        tree = fresh("images", "--tree").out
        assert "├─ linux/arm64/v8" in tree and "└─ linux/amd64" in tree
        assert fresh("run", "--rm", "multi:1", "cat", "/built-on").out == "linux/amd64 x86_64\n", "the host's runs"
        assert fresh("run", "--rm", "--platform", "linux/arm64", "multi:1", "cat", "/built-on").out == \
            "linux/arm64/v8 aarch64\n"
    finally:
        fresh.cleanup()


def test_plain_pull_after_another_platform_brings_the_hosts(multi, tmp_path):
    host, dy = multi
    dy("manifest", "push", f"{host}/bb:multi")
    fresh = Dockyard(tmp_path / "fresh", dy.run_dir)
    try:
        fresh("pull", "--platform", "linux/arm64", f"{host}/bb:multi")
        out = fresh("pull", f"{host}/bb:multi").out
        assert "Downloaded newer image" in out, "the tag named arm64: not up to date for this host"
        assert fresh("image", "inspect", "-f", "{{.Architecture}}", f"{host}/bb:multi").out == "amd64\n"
        assert "Image is up to date" in fresh("pull", f"{host}/bb:multi").out
    finally:
        fresh.cleanup()
