"""docker-py (the Python SDK) against `dockyard serve`."""

from __future__ import annotations

import io
import tarfile
import time

import pytest

from tests.e2e.api.conftest import container_service_has
from tests.integration.distribution.test_cli_push_pull import own_registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.root
CONTAINER_GAP = container_service_has("summary", "inspect", "archive_get", "archive_put")


def test_images_volumes_networks_events(api, busybox, own_registry, tmp_path):  # noqa: F811
    client = api.client()
    assert client.version()["ApiVersion"] == "1.47"
    assert client.ping() is True
    since = time.time() - 1
    img = client.images.get("busybox")
    assert img.id == busybox and "busybox:latest" in img.tags

    dockerfile = b"FROM busybox\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"
    built, logs = client.images.build(fileobj=io.BytesIO(dockerfile), tag="pybuilt:1", rm=True)
    assert "pybuilt:1" in built.tags and any("Successfully built" in m.get("stream", "") for m in logs)

    ref = f"{own_registry}/py/bb"
    img.tag(ref, "2")
    pushed = list(client.images.push(ref, tag="2", stream=True, decode=True))
    assert any("aux" in m and m["aux"]["Tag"] == "2" for m in pushed), pushed
    client.images.remove(f"{ref}:2")
    pulled = client.images.pull(ref, tag="2")
    assert pulled.id == busybox

    vol = client.volumes.create("pyvol", labels={"team": "api"})
    assert client.volumes.get("pyvol").attrs["Labels"] == {"team": "api"}
    assert [v.name for v in client.volumes.list(filters={"label": "team=api"})] == ["pyvol"]
    vol.remove()
    net = client.networks.create("pynet", driver="bridge")
    assert client.networks.get(net.id).name == "pynet"
    net.remove()

    events = client.events(since=since, until=time.time(), decode=True)
    seen = [(e["Type"], e["Action"]) for e in events]
    assert ("volume", "create") in seen and ("network", "destroy") in seen and ("image", "push") in seen


@pytest.mark.skipif(bool(CONTAINER_GAP), reason=str(CONTAINER_GAP))
def test_containers(api, busybox):
    client = api.client()
    c = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done; sleep 30"],
                              detach=True, name="pyc")
    try:
        lines = []
        for chunk in c.logs(stream=True, follow=True):
            lines.extend(chunk.decode().split())
            if len(lines) >= 3:
                break
        assert lines[:3] == ["line1", "line2", "line3"]
        code, out = c.exec_run(["sh", "-c", "echo from-exec; exit 2"])
        assert (code, out) == (2, b"from-exec\n")

        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = 6
            tar.addfile(info, io.BytesIO(b"hello\n"))
        assert c.put_archive("/tmp", data.getvalue()) is True
        stream, stat = c.get_archive("/tmp/hello.txt")
        assert stat["name"] == "hello.txt" and stat["size"] == 6
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            assert tar.extractfile("hello.txt").read() == b"hello\n"
        assert client.containers.get("pyc").status == "running"
    finally:
        c.remove(force=True)
    assert client.containers.list(all=True) == []
