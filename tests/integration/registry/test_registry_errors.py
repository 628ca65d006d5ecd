"""Every route of `registry serve` walked with bad input: each 4xx/5xx carries the distribution
spec's body `{"errors": [{"code", "message", "detail"?}]}` with the code the spec gives, and
blob Range requests no byte can satisfy (`bytes=-0`, a start past the end) are 416."""

from __future__ import annotations

import json

import bcrypt
import pytest
from registry_harness import digest_of, push_blob, push_image

SPEC_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN",
              "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED",
              "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
              # the reference registry's own, beside the spec's
              "RANGE_INVALID", "PAGINATION_NUMBER_INVALID"}
OCI_MANIFEST = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
BLOB = b"0123456789"


def _assert_error(resp, status: int, code: str, what: str) -> None:
    assert resp.status == status, f"{what}: {resp.status} {resp.body[:200]!r}"
    assert resp.headers["Content-Type"].startswith("application/json"), what
    doc = json.loads(resp.body)
    assert set(doc) == {"errors"} and len(doc["errors"]) == 1, what
    (entry,) = doc["errors"]
    assert set(entry) <= {"code", "message", "detail"} and {"code", "message"} <= set(entry), what
    assert entry["code"] in SPEC_CODES and entry["code"] == code, f"{what}: {entry}"
    assert isinstance(entry["message"], str) and entry["message"], what


def _walk(registry) -> list[tuple[str, str, bytes | None, dict, int, str]]:
    """(method, path, body, headers, status, code) of bad requests on every route."""
    blob = push_blob(registry, "team/app", BLOB)
    push_image(registry, "team/app", "1")
    unknown = digest_of(b"nothing")
    location = registry.request("POST", "/v2/team/app/blobs/uploads/", b"").headers["Location"]
    upload = location.split("/v2/", 1)[1]
    return [
        # base, catalog, unknown endpoints and methods
        ("GET", "/v2/_catalog?n=lots", None, {}, 400, "PAGINATION_NUMBER_INVALID"),
        ("POST", "/v2/_catalog", b"", {}, 405, "UNSUPPORTED"),
        ("GET", "/v2/team/app/nothing-here", None, {}, 404, "UNSUPPORTED"),
        ("GET", "/elsewhere", None, {}, 404, "UNSUPPORTED"),
        ("POST", "/metrics", b"", {}, 405, "UNSUPPORTED"),
        # tags
        ("GET", "/v2/no/such/tags/list", None, {}, 404, "NAME_UNKNOWN"),
        ("GET", "/v2/Team/App/tags/list", None, {}, 400, "NAME_INVALID"),
        ("GET", "/v2/team/app/tags/list?n=-1", None, {}, 400, "PAGINATION_NUMBER_INVALID"),
        ("DELETE", "/v2/team/app/tags/list", None, {}, 405, "UNSUPPORTED"),
        # manifests
        ("GET", "/v2/team/app/manifests/nope", None, {}, 404, "MANIFEST_UNKNOWN"),
        ("GET", f"/v2/team/app/manifests/{unknown}", None, {}, 404, "MANIFEST_UNKNOWN"),
        ("GET", "/v2/no/such/manifests/1", None, {}, 404, "MANIFEST_UNKNOWN"),  # as the reference registry
        ("GET", "/v2/team//app/manifests/1", None, {}, 400, "NAME_INVALID"),
        ("PUT", "/v2/team/app/manifests/2", b"{not json", OCI_MANIFEST, 400, "MANIFEST_INVALID"),
        ("PUT", "/v2/team/app/manifests/2", json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST["Content-Type"],
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": unknown, "size": 7},
            "layers": []}).encode(), OCI_MANIFEST, 400, "MANIFEST_BLOB_UNKNOWN"),
        ("DELETE", "/v2/team/app/manifests/sha256:zz", None, {}, 400, "DIGEST_INVALID"),
        ("DELETE", f"/v2/team/app/manifests/{unknown}", None, {}, 404, "MANIFEST_UNKNOWN"),
        # blobs
        ("GET", f"/v2/team/app/blobs/{unknown}", None, {}, 404, "BLOB_UNKNOWN"),
        ("GET", "/v2/team/app/blobs/sha256:short", None, {}, 400, "DIGEST_INVALID"),
        ("GET", f"/v2/team/app/blobs/{blob}", None, {"Range": "bytes=-0"}, 416, "RANGE_INVALID"),
        ("GET", f"/v2/team/app/blobs/{blob}", None, {"Range": f"bytes={len(BLOB)}-"}, 416, "RANGE_INVALID"),
        ("GET", f"/v2/team/app/blobs/{blob}", None, {"Range": "bytes=99-100"}, 416, "RANGE_INVALID"),
        ("GET", f"/v2/team/app/blobs/{blob}", None, {"Range": "bytes=5-2"}, 416, "RANGE_INVALID"),
        ("GET", f"/v2/team/app/blobs/{blob}", None, {"Range": "bytes=x-y"}, 416, "RANGE_INVALID"),
        ("GET", f"/v2/team/app/blobs/{blob}", None, {"Range": "pages=1-2"}, 416, "RANGE_INVALID"),
        ("DELETE", f"/v2/team/app/blobs/{unknown}", None, {}, 404, "BLOB_UNKNOWN"),
        ("PUT", f"/v2/team/app/blobs/{blob}", b"", {}, 405, "UNSUPPORTED"),
        # uploads
        ("POST", "/v2/team/app/blobs/uploads/?digest=sha256:bad", b"x", {}, 400, "DIGEST_INVALID"),
        ("POST", f"/v2/team/app/blobs/uploads/?digest={unknown}", b"other", {}, 400, "DIGEST_INVALID"),
        ("GET", "/v2/team/app/blobs/uploads/no-such-upload", None, {}, 404, "BLOB_UPLOAD_UNKNOWN"),
        ("PATCH", "/v2/team/app/blobs/uploads/no-such-upload", b"x", {}, 404, "BLOB_UPLOAD_UNKNOWN"),
        ("DELETE", "/v2/team/app/blobs/uploads/no-such-upload", None, {}, 404, "BLOB_UPLOAD_UNKNOWN"),
        ("PATCH", f"/v2/{upload}", b"ab", {"Content-Range": "garbage"}, 416, "RANGE_INVALID"),
        ("PATCH", f"/v2/{upload}", b"ab", {"Content-Range": "5-6"}, 416, "RANGE_INVALID"),
        ("PATCH", f"/v2/{upload}", b"abc", {"Content-Range": "0-1"}, 400, "SIZE_INVALID"),
        ("PUT", f"/v2/{upload}", b"", {}, 400, "DIGEST_INVALID"),
        ("PUT", f"/v2/{upload}?digest={unknown}", b"", {}, 400, "DIGEST_INVALID"),
        # referrers
        ("GET", "/v2/team/app/referrers/sha256:bad", None, {}, 400, "DIGEST_INVALID"),
    ]


def test_every_error_carries_the_spec_body(registry):
    for method, path, body, headers, status, code in _walk(registry):
        resp = registry.request(method, path, body, headers)
        _assert_error(resp, status, code, f"{method} {path} {headers}")
        if status == 416 and method == "GET" and "Range" in headers:
            assert resp.headers["Content-Range"] == f"bytes */{len(BLOB)}"
    assert "Traceback" not in registry.log() and "internal error" not in registry.log()


def test_satisfiable_ranges_are_still_served(registry):
    blob = f"/v2/team/app/blobs/{push_blob(registry, 'team/app', BLOB)}"
    for rng, part in [("bytes=2-4", BLOB[2:5]), ("bytes=-3", BLOB[-3:]), ("bytes=7-", BLOB[7:]),
                      ("bytes=8-100", BLOB[8:]), ("bytes=-100", BLOB)]:
        resp = registry.request("GET", blob, headers={"Range": rng})
        assert resp.status == 206 and resp.body == part, rng


@pytest.fixture
def token_registry(start_registry, tmp_path):
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{bcrypt.hashpw(b'alice-pw', bcrypt.gensalt(4)).decode()}\n")
    acl = tmp_path / "acl"
    acl.write_text("alice  alice/*  pull,push,delete\n*  *  pull\n")
    return start_registry("--auth", f"token:htpasswd={htpasswd},acl={acl},anonymous=pull")


def test_auth_errors_carry_the_spec_body(token_registry):
    reg = token_registry
    _assert_error(reg.request("GET", "/v2/alice/app/tags/list"), 401, "UNAUTHORIZED", "no token")
    _assert_error(reg.request("GET", "/v2/alice/app/tags/list", headers={"Authorization": "Bearer forged"}),
                  401, "UNAUTHORIZED", "a forged token")
    _assert_error(reg.request("GET", "/token", headers={"Authorization": "Basic YWxpY2U6d3Jvbmc="}),
                  401, "UNAUTHORIZED", "a wrong password at the token endpoint")
    anonymous = json.loads(reg.request("GET", "/token?scope=repository:alice/app:pull,push").body)["token"]
    bearer = {"Authorization": f"Bearer {anonymous}"}
    _assert_error(reg.request("POST", "/v2/alice/app/blobs/uploads/", b"", bearer), 403, "DENIED", "push without grant")
    _assert_error(reg.request("GET", "/v2/alice/app/tags/list", headers=bearer), 404, "NAME_UNKNOWN", "pull, granted")
