"""Multi-platform images through the Engine API, driven by the real docker CLI: `images --tree`
(`GET /images/json?manifests=1`), `run --platform` and `build --platform` (the classic builder)."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.helpers.rawhttp import http
from tests.integration.distribution.test_cli_push_pull import own_registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.root

DOCKERFILE = "ARG TARGETARCH\nFROM busybox:$TARGETARCH\nRUN uname -m > /machine\n"


@pytest.fixture
def multi(dy, api, tmp_path):
    """`multi:1`, an index of amd64 and arm64 built locally from bootstrapped busybox images."""
    for arch in ("amd64", "arm64"):
        dy("image", "bootstrap", "busybox", arch, "--arch", arch)
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(DOCKERFILE)
    dy("build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", "multi:1", str(tmp_path / "ctx"))
    return api


def test_images_tree_and_manifests_list_the_platforms(multi):
    tree = multi.docker("images", "--tree").out
    block = tree[tree.index("multi:1"):].split("\n\n")[0].splitlines()
    assert [line.split()[1] for line in block[1:]] == ["linux/amd64", "linux/arm64/v8"]
    status, body = http(multi.sock, "GET", "/v1.47/images/json?manifests=1&" +
                            urllib.parse.urlencode({"filters": json.dumps({"reference": ["multi:1"]})}))
    assert status == 200
    [summary] = json.loads(body)
    kinds = [(m["Kind"], m["Available"], m["ImageData"]["Platform"]["architecture"]) for m in summary["Manifests"]]
    assert kinds == [("image", True, "amd64"), ("image", True, "arm64")]
    assert all(m["Size"]["Content"] > 0 and m["Descriptor"]["digest"] == m["ID"] for m in summary["Manifests"])
    status, body = http(multi.sock, "GET", "/v1.47/images/json")
    assert all("Manifests" not in s for s in json.loads(body)), "only when asked for"


def test_run_and_build_for_a_platform(multi, tmp_path):
    assert multi.docker("run", "--rm", "--platform", "linux/arm64", "multi:1", "cat", "/machine").out == "aarch64\n"
    assert multi.docker("run", "--rm", "multi:1", "cat", "/machine").out == "x86_64\n"
    r = multi.docker("run", "--rm", "--pull", "never", "--platform", "linux/s390x", "multi:1", "true", check=False)
    assert r.code != 0 and ("image with reference multi:1 was found but does not match the specified platform: "
                                  "wanted linux/s390x, actual: linux/amd64") in r.err
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "Dockerfile").write_text("FROM multi:1\nRUN cat /machine > /base && uname -m > /now\n")
    multi.docker("build", "-q", "--platform", "linux/arm64", "-t", "one:arm", str(tmp_path / "one"))
    out = multi.docker("run", "--rm", "one:arm", "cat", "/base", "/now").out
    assert out == "aarch64\naarch64\n"
    assert multi.docker("image", "inspect", "-f", "{{.Architecture}}", "one:arm").out == "arm64\n"


def test_push_the_index_then_pull_one_platform(multi, own_registry, dy):  # noqa: F811
    ref = f"{own_registry}/m:1"
    multi.docker("tag", "multi:1", ref)
    pushed = multi.docker("push", ref).out
    digest = pushed.strip().splitlines()[-1].split("digest: ")[1].split()[0]
    remote = json.loads(multi.docker("manifest", "inspect", "--insecure", ref).out)
    assert [m["platform"]["architecture"] for m in remote["manifests"]] == ["amd64", "arm64"], "the whole index"
    for name in ("multi:1", ref, "busybox:amd64", "busybox:arm64"):
        multi.docker("rmi", name)
    assert multi.docker("images", "-q").out == ""
    out = multi.docker("pull", "--platform", "linux/arm64", ref).out
    assert f"Digest: {digest}" in out
    assert multi.docker("run", "--rm", ref, "cat", "/machine").out == "aarch64\n"
    status, body = http(multi.sock, "GET", "/v1.47/images/json?manifests=1")
    [summary] = json.loads(body)
    assert [(m["ImageData"]["Platform"]["architecture"], m["Available"]) for m in summary["Manifests"]] == \
        [("amd64", False), ("arm64", True)]


def test_compose_builds_for_another_platform_through_buildkit(multi, tmp_path):
    """Compose's BuildKit client (POST /grpc, /session) with `platform: linux/arm64`."""
    from pathlib import Path

    from tests.e2e.api.conftest import install_compose, run_docker

    env = {k: v for k, v in multi.env.items() if k != "DOCKER_BUILDKIT"}
    install_compose(Path(env["DOCKER_CONFIG"]))
    project = tmp_path / "p"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM multi:1\nARG TARGETARCH\nRUN echo $TARGETARCH $(uname -m) > /bk\n")
    (project / "compose.yaml").write_text("services:\n  arm: {build: ., image: 'bk/arm', platform: linux/arm64}\n")
    res = run_docker(env, ["compose", "--project-directory", str(project), "-p", "bk", "build"], None, False, 120)
    assert res.code == 0, res.err
    assert multi.docker("run", "--rm", "bk/arm", "cat", "/bk").out == "arm64 aarch64\n"
