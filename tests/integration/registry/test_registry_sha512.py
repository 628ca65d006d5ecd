"""sha512 digests through every path of the server: uploads of each kind, mounts, manifests,
referrers, deletes, and unknown sha512 content answered 404 as any unknown content is."""

from __future__ import annotations

import hashlib
import json

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def d512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def manifest512(config: bytes, layers: list[bytes], **extra) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d512(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d512(layer), "size": len(layer)}
                   for layer in layers],
        **extra,
    }).encode()


def test_sha512_uploads_of_every_kind(registry):
    mono, chunked, streamed = b"monolithic" * 100, bytes(range(256)) * 300, b"streamed" * 1000
    post = registry.request("POST", f"/v2/acme/x/blobs/uploads/?digest={d512(mono)}", mono)
    assert post.status == 201 and post.headers["Docker-Content-Digest"] == d512(mono)

    location = registry.request("POST", "/v2/acme/x/blobs/uploads/", b"").headers["Location"]
    registry.request("PATCH", location, chunked[:5000], {"Content-Range": "0-4999"})
    registry.request("PATCH", location, chunked[5000:], {"Content-Range": f"5000-{len(chunked) - 1}"})
    done = registry.request("PUT", f"{location}?digest={d512(chunked)}", b"")
    assert done.status == 201 and done.headers["Docker-Content-Digest"] == d512(chunked)

    location = registry.request("POST", "/v2/acme/x/blobs/uploads/", b"").headers["Location"]
    registry.request("PATCH", location, streamed)  # no Content-Range: a streamed upload
    assert registry.request("PUT", f"{location}?digest={d512(streamed)}", b"").status == 201

    location = registry.request("POST", "/v2/acme/x/blobs/uploads/", b"").headers["Location"]
    wrong = registry.request("PUT", f"{location}?digest={d512(b'other')}", b"in the PUT itself")
    assert wrong.status == 400 and wrong.error_codes == ["DIGEST_INVALID"]

    for data in (mono, chunked, streamed):
        get = registry.request("GET", f"/v2/acme/x/blobs/{d512(data)}")
        assert get.body == data and get.headers["Docker-Content-Digest"] == d512(data)
        head = registry.request("HEAD", f"/v2/acme/x/blobs/{d512(data)}")
        assert head.status == 200 and head.headers["Content-Length"] == str(len(data))
    assert (registry.root / "blobs" / "sha512" / d512(mono)[7:]).read_bytes() == mono


def test_sha512_unknown_content_is_404_and_bad_digests_400(registry):
    unknown = d512(b"never pushed")
    assert registry.request("GET", f"/v2/acme/x/blobs/{unknown}").error_codes == ["BLOB_UNKNOWN"]
    assert registry.request("HEAD", f"/v2/acme/x/blobs/{unknown}").status == 404
    assert registry.request("GET", f"/v2/acme/x/manifests/{unknown}").error_codes == ["MANIFEST_UNKNOWN"]
    assert registry.request("DELETE", f"/v2/acme/x/blobs/{unknown}").status == 404
    short = "sha512:" + "a" * 64
    assert registry.request("GET", f"/v2/acme/x/blobs/{short}").error_codes == ["DIGEST_INVALID"]


def test_sha512_manifest_mount_referrers_delete(registry):
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"layer bytes"
    for blob in (config, layer):
        assert registry.request("POST", f"/v2/acme/src/blobs/uploads/?digest={d512(blob)}", blob).status == 201
    body = manifest512(config, [layer])
    put = registry.request("PUT", f"/v2/acme/src/manifests/{d512(body)}", body, {"Content-Type": OCI_MANIFEST})
    assert put.status == 201 and put.headers["Docker-Content-Digest"] == d512(body)
    bad = registry.request("PUT", f"/v2/acme/src/manifests/{d512(b'x')}", body, {"Content-Type": OCI_MANIFEST})
    assert bad.error_codes == ["DIGEST_INVALID"]
    got = registry.request("GET", f"/v2/acme/src/manifests/{d512(body)}", headers={"Accept": OCI_MANIFEST})
    assert got.body == body and got.headers["Docker-Content-Digest"] == d512(body)

    mounted = registry.request("POST", f"/v2/acme/dst/blobs/uploads/?mount={d512(layer)}&from=acme/src", b"")
    assert mounted.status == 201 and mounted.headers["Docker-Content-Digest"] == d512(layer)
    assert registry.request("GET", f"/v2/acme/dst/blobs/{d512(layer)}").body == layer

    sig_config = b"{}"
    registry.request("POST", f"/v2/acme/src/blobs/uploads/?digest={d512(sig_config)}", sig_config)
    sig = manifest512(sig_config, [layer], artifactType="application/vnd.dev.sig",
                      subject={"mediaType": OCI_MANIFEST, "digest": d512(body), "size": len(body)})
    put = registry.request("PUT", f"/v2/acme/src/manifests/{d512(sig)}", sig, {"Content-Type": OCI_MANIFEST})
    assert put.headers["OCI-Subject"] == d512(body)
    listed = registry.request("GET", f"/v2/acme/src/referrers/{d512(body)}")
    assert listed.headers["Content-Type"] == OCI_INDEX
    assert [d["digest"] for d in listed.json()["manifests"]] == [d512(sig)]

    assert registry.request("DELETE", f"/v2/acme/src/manifests/{d512(sig)}").status == 202
    assert registry.request("GET", f"/v2/acme/src/referrers/{d512(body)}").json()["manifests"] == []
    assert registry.request("DELETE", f"/v2/acme/src/manifests/{d512(body)}").status == 202
    assert registry.request("GET", f"/v2/acme/src/manifests/{d512(body)}").status == 404
    assert registry.request("DELETE", f"/v2/acme/dst/blobs/{d512(layer)}").status == 202
    assert registry.request("GET", f"/v2/acme/dst/blobs/{d512(layer)}").status == 404


def test_gc_collects_sha512_blobs(registry, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    blob = b"orphan"
    registry.request("POST", f"/v2/acme/x/blobs/uploads/?digest={d512(blob)}", blob)
    gc = [str(Path(sys.executable).parent / "dockyard"), "registry", "gc", "--root", str(registry.root)]
    dry = subprocess.run([*gc, "--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and f"would delete {d512(blob)}" in dry.stdout, dry.stderr
    assert "1 blobs would delete" in dry.stdout and "0 in use" in dry.stdout
    done = subprocess.run(gc, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"deleted {d512(blob)}" in done.stdout, done.stderr
    assert not (registry.root / "blobs" / "sha512" / d512(blob)[7:]).exists()
    assert not (registry.root / "repositories" / "acme" / "x" / "_layers" / d512(blob)[7:]).exists()
