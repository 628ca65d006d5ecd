"""`python -m dockyard.registry gc` against a registry that keeps serving and taking uploads."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from registry_harness import digest_of, image_manifest, push_blob, skopeo

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INSECURE = ("--src-tls-verify=false", "--dest-tls-verify=false")


def _gc(root, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dockyard.registry", "gc", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout


def test_online_gc_with_concurrent_uploads(registry, busybox_layout, tmp_path):
    skopeo("copy", *INSECURE, f"oci:{busybox_layout['path']}:latest", f"docker://{registry.host}/lib/box:1")
    stray = push_blob(registry, "lib/box", b"stray upload nobody references")

    listed = _gc(registry.root, "--dry-run")
    assert f"would delete {stray}" in listed and "would delete 1 blob(s)" in listed
    assert registry.request("HEAD", f"/v2/lib/box/blobs/{stray}").status == 200

    accepted: list[tuple[str, str]] = []  # (tag, layer digest) of every manifest the registry took
    stop = threading.Event()

    def keep_pushing():
        i = 0
        while not stop.is_set():
            layer = f"concurrent {i}".encode()
            push_blob(registry, "lib/box", b"{}")
            push_blob(registry, "lib/box", layer)
            body = json.dumps(image_manifest(b"{}", [layer])).encode()
            resp = registry.request("PUT", f"/v2/lib/box/manifests/c{i}", body, {"Content-Type": OCI_MANIFEST})
            if resp.status == 201:
                accepted.append((f"c{i}", digest_of(layer)))
            else:  # a blob collected between upload and manifest is refused, never left dangling
                assert resp.error_codes == ["MANIFEST_BLOB_UNKNOWN"]
            i += 1

    writer = threading.Thread(target=keep_pushing)
    writer.start()
    try:
        output = _gc(registry.root)
    finally:
        stop.set()
        writer.join()

    assert f"deleted {stray}" in output
    assert registry.request("HEAD", f"/v2/lib/box/blobs/{stray}").status == 404
    assert accepted, "the writer pushed nothing during gc"
    for tag, layer in accepted:
        assert registry.request("GET", f"/v2/lib/box/manifests/{tag}").status == 200, tag
        assert registry.request("HEAD", f"/v2/lib/box/blobs/{layer}").status == 200, tag
        assert registry.request("HEAD", f"/v2/lib/box/blobs/{digest_of(b'{}')}").status == 200

    pulled = tmp_path / "pulled"
    skopeo("copy", *INSECURE, f"docker://{registry.host}/lib/box:1", f"oci:{pulled}:x")
    manifest_digest = json.loads((pulled / "index.json").read_text())["manifests"][0]["digest"]
    assert manifest_digest == busybox_layout["descriptor"]["digest"]
