"""The docker CLI against `dockyard serve`: an image it loaded from a docker-archive (layers as
plain tars) is pushed with gzip layers, as dockerd pushes them."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.distribution.test_cli_push_pull import own_registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.root


def test_docker_push_of_a_loaded_image_sends_gzip(dy, api, busybox, own_registry, tmp_path):  # noqa: F811
    api.docker("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    api.docker("rmi", "busybox")
    api.docker("load", "-i", str(tmp_path / "bb.tar"))
    images = dy.engine().images
    stored = images.manifest(images.get("busybox"))["layers"][0]["mediaType"]
    assert stored == "application/vnd.oci.image.layer.v1.tar"  # loaded as the plain tar the archive holds
    ref = f"{own_registry}/team/loaded:1"
    api.docker("tag", "busybox", ref)
    api.docker("push", ref)
    manifest = httpx.get(f"http://{own_registry}/v2/team/loaded/manifests/1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    layer = manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    blob = httpx.get(f"http://{own_registry}/v2/team/loaded/blobs/{layer['digest']}").content
    assert blob[:2] == b"\x1f\x8b" and len(blob) == layer["size"]
