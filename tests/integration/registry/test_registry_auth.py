"""Authentication: htpasswd Basic auth and the built-in token service, and what the log keeps."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse

import bcrypt
import pytest
from registry_harness import digest_of, skopeo

INSECURE = ("--src-tls-verify=false", "--dest-tls-verify=false")
PASSWORDS = {"alice": "alice-s3cret-pw", "bob": "bob-s3cret-pw"}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def htpasswd(tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text("".join(
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()}\n" for user, pw in PASSWORDS.items()
    ))
    return path


def _assert_no_secrets(log: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in log
    assert "Authorization" not in log and "Bearer " not in log and "Basic " not in log


def test_htpasswd_basic_auth(start_registry, htpasswd, busybox_layout):
    registry = start_registry("--auth", f"htpasswd:{htpasswd}")
    anon = registry.request("GET", "/v2/")
    assert anon.status == 401 and anon.error_codes == ["UNAUTHORIZED"]
    assert anon.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert registry.request("GET", "/v2/", headers=_basic("alice", "wrong")).status == 401
    assert registry.request("GET", "/v2/", headers=_basic("mallory", "alice-s3cret-pw")).status == 401
    assert registry.request("GET", "/v2/", headers=_basic("alice", PASSWORDS["alice"])).status == 200

    skopeo("copy", *INSECURE, "--dest-creds", f"alice:{PASSWORDS['alice']}",
           f"oci:{busybox_layout['path']}:latest", f"docker://{registry.host}/alice/box:1")
    refused = skopeo("inspect", "--tls-verify=false", "--creds", "alice:wrong", f"docker://{registry.host}/alice/box:1",
                     check=False)
    assert refused.returncode != 0
    log = registry.log()
    assert re.search(r'127\.0\.0\.1 - alice \[[^]]+\] "PUT /v2/alice/box/manifests/1 HTTP/1\.1" 201 ', log)
    _assert_no_secrets(log, *PASSWORDS.values(), base64.b64encode(b"alice:alice-s3cret-pw").decode())


@pytest.fixture
def token_registry(start_registry, htpasswd, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("alice  alice/*  pull,push,delete\n*  *  pull\n")
    return start_registry("--auth", f"token:htpasswd={htpasswd},acl={acl},anonymous=pull")


def _token(registry, scope: str, creds: tuple[str, str] | None = None):
    query = urllib.parse.urlencode({"service": "dockyard-registry", "scope": scope})
    return registry.request("GET", f"/token?{query}", headers=_basic(*creds) if creds else {})


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_anonymous_push_gets_bearer_challenge(token_registry):
    resp = token_registry.request("POST", "/v2/alice/app/blobs/uploads/", b"")
    assert resp.status == 401 and resp.error_codes == ["UNAUTHORIZED"]
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{token_registry.url}/token"')
    assert 'service="dockyard-registry"' in challenge
    assert 'scope="repository:alice/app:pull,push"' in challenge


def test_tokens_carry_only_granted_actions(token_registry):
    assert _token(token_registry, "repository:alice/app:pull,push", ("alice", "wrong")).status == 401

    alice = _token(token_registry, "repository:alice/app:pull,push", ("alice", PASSWORDS["alice"])).json()["token"]
    assert _claims(alice)["access"] == [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}]
    bob = _token(token_registry, "repository:alice/app:pull,push", ("bob", PASSWORDS["bob"])).json()["token"]
    assert _claims(bob)["access"] == [{"type": "repository", "name": "alice/app", "actions": ["pull"]}]

    path = f"/v2/alice/app/blobs/uploads/?digest={digest_of(b'data')}"
    denied = token_registry.request("POST", path, b"data", {"Authorization": f"Bearer {bob}"})
    assert denied.status == 403 and denied.error_codes == ["DENIED"]
    ok = token_registry.request("POST", path, b"data", {"Authorization": f"Bearer {alice}"})
    assert ok.status == 201
    blob = f"/v2/alice/app/blobs/{digest_of(b'data')}"
    assert token_registry.request("GET", blob, headers={"Authorization": f"Bearer {bob}"}).body == b"data"

    forged = alice[:-4] + ("AAAA" if not alice.endswith("AAAA") else "BBBB")
    assert token_registry.request("GET", blob, headers={"Authorization": f"Bearer {forged}"}).status == 401
    anonymous = _token(token_registry, "repository:alice/app:pull,push").json()["token"]
    assert token_registry.request("GET", blob, headers={"Authorization": f"Bearer {anonymous}"}).status == 200
    assert token_registry.request("DELETE", blob, headers={"Authorization": f"Bearer {anonymous}"}).status == 403


def test_skopeo_through_the_token_flow(token_registry, busybox_layout, tmp_path):
    src = f"oci:{busybox_layout['path']}:latest"
    skopeo("copy", *INSECURE, "--dest-creds", f"alice:{PASSWORDS['alice']}", src,
           f"docker://{token_registry.host}/alice/box:1")
    skopeo("copy", *INSECURE, "--dest-creds", f"alice:{PASSWORDS['alice']}", src,
           f"docker://{token_registry.host}/alice/copy:1")
    assert token_registry.metric("blob_mounts") >= 1  # the token carried pull on the source repository
    denied = skopeo("copy", *INSECURE, "--dest-creds", f"bob:{PASSWORDS['bob']}", src,
                    f"docker://{token_registry.host}/alice/box:2", check=False)
    assert denied.returncode != 0 and "denied" in denied.stderr.lower()
    anonymous = skopeo("copy", *INSECURE, src, f"docker://{token_registry.host}/alice/box:3", check=False)
    assert anonymous.returncode != 0
    # Anonymous pull is allowed by the configuration.
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{token_registry.host}/alice/box:1").stdout)
    assert info["Layers"] == [busybox_layout["layer"]["digest"]]
    assert json.loads(skopeo("list-tags", "--tls-verify=false",
                             f"docker://{token_registry.host}/alice/box").stdout)["Tags"] == ["1"]
    _assert_no_secrets(token_registry.log(), *PASSWORDS.values())
