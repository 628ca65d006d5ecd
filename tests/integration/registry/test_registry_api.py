"""The distribution API over plain HTTP: uploads, manifests, lists, referrers and bad input."""

from __future__ import annotations

import json

from registry_harness import digest_of, image_manifest, push_blob, push_image

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _blob_files(registry) -> set[str]:
    return {p.name for p in (registry.root / "blobs" / "sha256").iterdir()}


def test_base_endpoint_announces_api_version(registry):
    resp = registry.request("GET", "/v2/")
    assert resp.status == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_chunked_upload_with_status_and_ranged_download(registry):
    data = bytes(range(256)) * 1000
    start = registry.request("POST", "/v2/acme/data/blobs/uploads/", b"")
    assert start.status == 202 and start.headers["Range"] == "0-0"
    location = start.headers["Location"]

    first = registry.request("PATCH", location, data[:100000], {"Content-Range": "0-99999"})
    assert first.status == 202 and first.headers["Range"] == "0-99999"
    status = registry.request("GET", location)
    assert status.status == 204 and status.headers["Range"] == "0-99999"
    second = registry.request("PATCH", location, data[100000:], {"Content-Range": f"100000-{len(data) - 1}"})
    assert second.headers["Range"] == f"0-{len(data) - 1}"

    done = registry.request("PUT", f"{location}?digest={digest_of(data)}", b"")
    assert done.status == 201
    assert done.headers["Docker-Content-Digest"] == digest_of(data)
    assert registry.request("GET", location).error_codes == ["BLOB_UPLOAD_UNKNOWN"]

    blob = f"/v2/acme/data/blobs/{digest_of(data)}"
    assert registry.request("GET", blob).body == data
    head = registry.request("HEAD", blob)
    assert head.status == 200 and head.headers["Content-Length"] == str(len(data))
    part = registry.request("GET", blob, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == data[10:20]
    assert registry.request("GET", blob, headers={"Range": f"bytes={len(data)}-{len(data) + 10}"}).status == 416


def test_chunk_out_of_order_is_416_and_upload_survives(registry):
    location = registry.request("POST", "/v2/acme/data/blobs/uploads/", b"").headers["Location"]
    registry.request("PATCH", location, b"abcd", {"Content-Range": "0-3"})
    resp = registry.request("PATCH", location, b"zz", {"Content-Range": "10-11"})
    assert resp.status == 416
    assert resp.headers["Range"] == "0-3"
    assert registry.request("PATCH", location, b"ef", {"Content-Range": "4-5"}).status == 202
    assert registry.request("PUT", f"{location}?digest={digest_of(b'abcdef')}", b"").status == 201


def test_wrong_digest_at_completion_stores_nothing(registry):
    before = _blob_files(registry)
    location = registry.request("POST", "/v2/acme/data/blobs/uploads/", b"").headers["Location"]
    registry.request("PATCH", location, b"real content")
    resp = registry.request("PUT", f"{location}?digest={digest_of(b'other content')}", b"")
    assert resp.status == 400 and resp.error_codes == ["DIGEST_INVALID"]
    assert _blob_files(registry) == before
    assert registry.request("HEAD", f"/v2/acme/data/blobs/{digest_of(b'real content')}").status == 404

    mono = registry.request("POST", f"/v2/acme/data/blobs/uploads/?digest={digest_of(b'x')}", b"y")
    assert mono.error_codes == ["DIGEST_INVALID"]
    assert _blob_files(registry) == before
    assert list((registry.root / "ingest").iterdir()) == []


def test_manifest_naming_missing_blobs_is_refused(registry):
    push_blob(registry, "acme/app", b"{}")
    body = json.dumps(image_manifest(b"{}", [b"never uploaded"])).encode()
    resp = registry.request("PUT", "/v2/acme/app/manifests/v1", body, {"Content-Type": OCI_MANIFEST})
    assert resp.status == 400 and resp.error_codes == ["MANIFEST_BLOB_UNKNOWN"]
    assert resp.json()["errors"][0]["detail"]["digest"] == digest_of(b"never uploaded")
    assert registry.request("GET", "/v2/acme/app/manifests/v1").error_codes == ["MANIFEST_UNKNOWN"]
    assert not (registry.root / "blobs" / "sha256" / digest_of(body).split(":")[1]).exists()


def test_blob_of_another_repository_is_not_readable_without_mount(registry):
    digest = push_blob(registry, "alice/private", b"secret layer")
    assert registry.request("GET", f"/v2/bob/probe/blobs/{digest}").error_codes == ["BLOB_UNKNOWN"]
    body = json.dumps(image_manifest(b"secret layer", [])).encode()
    resp = registry.request("PUT", "/v2/bob/probe/manifests/x", body, {"Content-Type": OCI_MANIFEST})
    assert resp.error_codes == ["MANIFEST_BLOB_UNKNOWN"]

    mounted = registry.request("POST", f"/v2/bob/probe/blobs/uploads/?mount={digest}&from=alice/private", b"")
    assert mounted.status == 201 and registry.request("GET", f"/v2/bob/probe/blobs/{digest}").body == b"secret layer"
    fallback = registry.request("POST", f"/v2/bob/probe/blobs/uploads/?mount={digest_of(b'nope')}&from=alice/private", b"")
    assert fallback.status == 202 and "Docker-Upload-UUID" in fallback.headers


def test_invalid_repository_names(registry):
    for name in ("Upper/case", "a..b", "-lead", "a//b", "x" * 256):
        resp = registry.request("GET", f"/v2/{name}/tags/list")
        assert resp.status == 400 and resp.error_codes == ["NAME_INVALID"], name
        resp = registry.request("POST", f"/v2/{name}/blobs/uploads/", b"")
        assert resp.error_codes == ["NAME_INVALID"], name
    assert not any((registry.root / "repositories").iterdir())


def test_huge_and_malformed_manifests(registry):
    push_blob(registry, "acme/app", b"{}")
    huge = json.dumps(image_manifest(b"{}", [], annotations={"pad": "x" * (5 << 20)})).encode()
    resp = registry.request("PUT", "/v2/acme/app/manifests/big", huge, {"Content-Type": OCI_MANIFEST})
    assert resp.status == 413 and resp.error_codes == ["MANIFEST_INVALID"]
    for bad in (b"not json", b"[]", json.dumps({"schemaVersion": 1}).encode()):
        resp = registry.request("PUT", "/v2/acme/app/manifests/bad", bad, {"Content-Type": OCI_MANIFEST})
        assert resp.status == 400 and resp.error_codes == ["MANIFEST_INVALID"]
    good = json.dumps(image_manifest(b"{}", [])).encode()
    wrong = registry.request("PUT", f"/v2/acme/app/manifests/{digest_of(b'other')}", good, {"Content-Type": OCI_MANIFEST})
    assert wrong.error_codes == ["DIGEST_INVALID"]
    assert registry.request("GET", "/v2/acme/app/tags/list").json()["tags"] == []


def test_manifest_get_by_tag_and_digest_with_negotiation(registry):
    digest, body = push_image(registry, "acme/app", "v1")
    for ref in ("v1", digest):
        resp = registry.request("GET", f"/v2/acme/app/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert resp.body == body and resp.headers["Content-Type"] == OCI_MANIFEST
        assert resp.headers["Docker-Content-Digest"] == digest
    head = registry.request("HEAD", "/v2/acme/app/manifests/v1")
    assert head.status == 200 and head.headers["Content-Length"] == str(len(body))
    docker_only = registry.request(
        "GET", "/v2/acme/app/manifests/v1", headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    )
    assert docker_only.error_codes == ["MANIFEST_UNKNOWN"]


def test_index_needs_its_children(registry):
    child, child_body = push_image(registry, "acme/multi", "amd64")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_body)}]}
    ok = registry.request("PUT", "/v2/acme/multi/manifests/latest", json.dumps(index).encode(), {"Content-Type": OCI_INDEX})
    assert ok.status == 201
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": digest_of(b"missing"), "size": 7})
    bad = registry.request("PUT", "/v2/acme/multi/manifests/broken", json.dumps(index).encode(), {"Content-Type": OCI_INDEX})
    assert bad.error_codes == ["MANIFEST_BLOB_UNKNOWN"]


def test_tag_and_catalog_pagination(registry):
    for repo in ("a/one", "b/two", "c/three"):
        push_blob(registry, repo, b"x")
    digest, _ = push_image(registry, "a/one", "t1")
    for tag in ("t2", "t3", "t4"):
        body = registry.request("GET", f"/v2/a/one/manifests/{digest}").body
        registry.request("PUT", f"/v2/a/one/manifests/{tag}", body, {"Content-Type": OCI_MANIFEST})
    page = registry.request("GET", "/v2/a/one/tags/list?n=2")
    assert page.json()["tags"] == ["t1", "t2"]
    assert page.headers["Link"] == '</v2/a/one/tags/list?n=2&last=t2>; rel="next"'
    rest = registry.request("GET", "/v2/a/one/tags/list?n=2&last=t2")
    assert rest.json()["tags"] == ["t3", "t4"] and "Link" not in rest.headers
    cat = registry.request("GET", "/v2/_catalog?n=1&last=a/one")
    assert cat.json() == {"repositories": ["b/two"]} and "last=b/two" in cat.headers["Link"]
    assert registry.request("GET", "/v2/nobody/here/tags/list").error_codes == ["NAME_UNKNOWN"]


def test_referrers_and_subject(registry):
    subject, subject_body = push_image(registry, "acme/app", "v1")
    sbom, _ = push_image(registry, "acme/app", "sbom", config=b'{"sbom":1}',
                         artifactType="application/spdx+json",
                         subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)})
    sig_body = json.dumps(image_manifest(b"{}", [b"layer"], artifactType="application/vnd.dev.sig",
                                         subject={"mediaType": OCI_MANIFEST, "digest": subject,
                                                  "size": len(subject_body)})).encode()
    put = registry.request("PUT", f"/v2/acme/app/manifests/{digest_of(sig_body)}", sig_body,
                           {"Content-Type": OCI_MANIFEST})
    assert put.status == 201 and put.headers["OCI-Subject"] == subject

    listed = registry.request("GET", f"/v2/acme/app/referrers/{subject}")
    assert listed.headers["Content-Type"] == OCI_INDEX and "OCI-Filters-Applied" not in listed.headers
    found = {d["digest"]: d["artifactType"] for d in listed.json()["manifests"]}
    assert found == {sbom: "application/spdx+json", digest_of(sig_body): "application/vnd.dev.sig"}
    filtered = registry.request("GET", f"/v2/acme/app/referrers/{subject}?artifactType=application/vnd.dev.sig")
    assert [d["digest"] for d in filtered.json()["manifests"]] == [digest_of(sig_body)]
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert filtered.headers["Content-Type"] == OCI_INDEX
    assert registry.request("GET", f"/v2/acme/app/referrers/{digest_of(b'none')}").json()["manifests"] == []


def test_deletes(registry):
    digest, _ = push_image(registry, "acme/app", "v1", layers=(b"to delete",))
    body = registry.request("GET", f"/v2/acme/app/manifests/{digest}").body
    registry.request("PUT", "/v2/acme/app/manifests/v2", body, {"Content-Type": OCI_MANIFEST})
    assert registry.request("DELETE", "/v2/acme/app/manifests/v2").status == 202
    assert registry.request("GET", "/v2/acme/app/tags/list").json()["tags"] == ["v1"]
    assert registry.request("DELETE", f"/v2/acme/app/manifests/{digest}").status == 202
    assert registry.request("GET", "/v2/acme/app/manifests/v1").error_codes == ["MANIFEST_UNKNOWN"]
    layer = f"/v2/acme/app/blobs/{digest_of(b'to delete')}"
    assert registry.request("DELETE", layer).status == 202
    assert registry.request("GET", layer).error_codes == ["BLOB_UNKNOWN"]
    location = registry.request("POST", "/v2/acme/app/blobs/uploads/", b"").headers["Location"]
    assert registry.request("DELETE", location).status == 204
    assert registry.request("PATCH", location, b"x").error_codes == ["BLOB_UPLOAD_UNKNOWN"]
