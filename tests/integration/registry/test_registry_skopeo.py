"""Real clients against the server: skopeo pushes, pulls, inspects and lists images."""

from __future__ import annotations

import json

import pytest
from registry_harness import skopeo

INSECURE = ("--src-tls-verify=false", "--dest-tls-verify=false")


def _pull_layout(registry, ref: str, dest) -> dict:
    skopeo("copy", *INSECURE, f"docker://{registry.host}/{ref}", f"oci:{dest}:pulled")
    index = json.loads((dest / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    return json.loads((dest / "blobs" / "sha256" / digest).read_text())


@pytest.mark.parametrize(
    "fmt, media_type",
    [
        ("oci", "application/vnd.oci.image.manifest.v1+json"),
        ("v2s2", "application/vnd.docker.distribution.manifest.v2+json"),
    ],
)
def test_push_then_pull_round_trips_the_image(registry, busybox_layout, tmp_path, fmt, media_type):
    src = f"oci:{busybox_layout['path']}:latest"
    skopeo("copy", *INSECURE, "--format", fmt, src, f"docker://{registry.host}/library/busybox:{fmt}")

    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/library/busybox:{fmt}").stdout
    assert json.loads(raw)["mediaType"] == media_type
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/library/busybox:{fmt}").stdout)
    assert info["Layers"] == [busybox_layout["layer"]["digest"]]
    assert info["Architecture"] == "amd64"

    pulled = _pull_layout(registry, f"library/busybox:{fmt}", tmp_path / "pulled")
    assert [layer["digest"] for layer in pulled["layers"]] == [busybox_layout["layer"]["digest"]]
    layer_hex = busybox_layout["layer"]["digest"].split(":")[1]
    assert (tmp_path / "pulled" / "blobs" / "sha256" / layer_hex).read_bytes() == (
        busybox_layout["path"] / "blobs" / "sha256" / layer_hex
    ).read_bytes()


def test_list_tags_and_catalog(registry, busybox_layout):
    src = f"oci:{busybox_layout['path']}:latest"
    for tag in ("1.0", "1.1", "latest"):
        skopeo("copy", *INSECURE, src, f"docker://{registry.host}/tools/busybox:{tag}")
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{registry.host}/tools/busybox").stdout)
    assert tags["Tags"] == ["1.0", "1.1", "latest"]
    assert registry.request("GET", "/v2/_catalog").json() == {"repositories": ["tools/busybox"]}


def test_second_push_sends_no_blob_bytes_and_other_repo_mounts(registry, busybox_layout):
    src = f"oci:{busybox_layout['path']}:latest"
    skopeo("copy", *INSECURE, src, f"docker://{registry.host}/team/app:1")
    first = registry.metric("blob_bytes_received")
    assert first >= busybox_layout["layer"]["size"]

    skopeo("copy", *INSECURE, src, f"docker://{registry.host}/team/app:2")
    assert registry.metric("blob_bytes_received") == first

    skopeo("copy", *INSECURE, src, f"docker://{registry.host}/team/other:1")
    assert registry.metric("blob_mounts") >= 1
    # The layer was mounted, not sent again (the small config may be re-sent).
    assert registry.metric("blob_bytes_received") - first < busybox_layout["layer"]["size"]
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/team/other:1").stdout)
    assert info["Layers"] == [busybox_layout["layer"]["digest"]]


def test_tls(start_registry, busybox_layout, tmp_path):
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    registry = start_registry("--tls-cert", str(cert), "--tls-key", str(key))
    assert registry.url.startswith("https://")
    skopeo("copy", *INSECURE, f"oci:{busybox_layout['path']}:latest", f"docker://{registry.host}/secure/box:1")
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(cert.read_bytes())
    info = json.loads(skopeo("inspect", "--cert-dir", str(certs), f"docker://{registry.host}/secure/box:1").stdout)
    assert info["Layers"] == [busybox_layout["layer"]["digest"]]
