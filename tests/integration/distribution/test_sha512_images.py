"""Images whose digests are sha512 (the OCI spec allows it): load, save, push, pull."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile

import pytest

from tests.conftest import Dockyard
from tests.integration.distribution.distribution_support import make_layer
from tests.integration.distribution.test_cli_push_pull import running_registry

pytestmark = pytest.mark.root


def d512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def sha512_archive() -> tuple[bytes, str]:
    """An OCI layout tar of one image whose layer, config and manifest are named by sha512."""
    layer, diff_id = make_layer({"etc/greeting": b"hello sha512\n"})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d512(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d512(layer),
                    "size": len(layer)}],
    }).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d512(manifest), "size": len(manifest),
        "annotations": {"io.containerd.image.name": "docker.io/library/sha:512",
                        "org.opencontainers.image.ref.name": "512"}}]}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index),
                           *((f"blobs/sha512/{d512(b)[7:]}", b) for b in (layer, config, manifest))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), d512(manifest)


def test_sha512_image_load_save_push_pull(dy, tmp_path):
    archive, manifest_digest = sha512_archive()
    assert "Loaded image: sha:512" in dy("load", input=archive).out
    image_id = dy("image", "inspect", "-f", "{{.Id}}", "sha:512").out.strip()
    assert image_id.startswith("sha256:")  # an image ID is its config's sha256, as in docker

    saved = tmp_path / "saved.tar"
    dy("save", "--format", "oci", "-o", str(saved), "sha:512")
    with tarfile.open(saved) as tar:
        assert f"blobs/sha512/{manifest_digest[7:]}" in tar.getnames()

    with running_registry(dy, tmp_path / "reg") as host:
        ref = f"{host}/team/sha:512"
        dy("tag", "sha:512", ref)
        out = dy("push", ref).out
        assert f"digest: {manifest_digest}" in out
        assert (tmp_path / "reg" / "blobs" / "sha512" / manifest_digest[7:]).exists()

        other = Dockyard(tmp_path / "root2", tmp_path / "run2")
        by_digest = other("pull", f"{host}/team/sha@{manifest_digest}").out
        assert f"Digest: {manifest_digest}" in by_digest
        assert other("image", "inspect", "-f", "{{.Id}}", f"{host}/team/sha@{manifest_digest}").out.strip() == image_id
        # by tag, the registry names the same bytes by their sha256, as the reference registry does
        by_tag = other("pull", ref).out
        assert re.search(r"Digest: sha256:[0-9a-f]{64}", by_tag)
        assert other("image", "inspect", "-f", "{{.Id}}", ref).out.strip() == image_id
