"""Pure rules of the registry: name grammar, manifest checks, tokens and access-control rules."""

from __future__ import annotations

import json
import time

import pytest

from dockyard.errors import InvalidArgument
from dockyard.registry import acl, errors, manifests, names
from dockyard.registry.auth import Identity, parse_scope
from dockyard.registry.tokens import TokenSigner

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("name", ["busybox", "library/busybox", "a.b_c__d-e--f/g0", "x" * 255])
def test_valid_names(name):
    assert names.is_valid_name(name)


@pytest.mark.parametrize("name", ["", "Busybox", "a..b", "a/../b", "-a", "a-", "a//b", "/a", "a/", "a___b", "x" * 256])
def test_invalid_names(name):
    assert not names.is_valid_name(name)


def test_tags_and_digest_references():
    assert names.is_valid_tag("v1.2_rc-3") and not names.is_valid_tag(".hidden") and not names.is_valid_tag("a" * 129)
    assert names.looks_like_digest(DIGEST) and not names.looks_like_digest("latest")


def _manifest(**extra) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": manifests.mt.OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST, "size": 2},
                       "layers": [], **extra}).encode()


def test_manifest_parse_extracts_references_and_artifact_type():
    m = manifests.parse(_manifest(subject={"mediaType": manifests.mt.OCI_MANIFEST, "digest": DIGEST, "size": 1}), None)
    assert [b.digest for b in m.blobs] == [DIGEST]
    assert m.subject.digest == DIGEST and m.artifact_type == "application/vnd.oci.image.config.v1+json"


@pytest.mark.parametrize("body, content_type", [
    (b"{", None),
    (_manifest(layers=[{"digest": "md5:abc", "size": 1}]), None),
    (_manifest(layers=[{"digest": DIGEST, "size": -1}]), None),
    (_manifest(), manifests.mt.DOCKER_MANIFEST),  # header contradicts the body
    (json.dumps({"schemaVersion": 2, "mediaType": "text/plain"}).encode(), None),
])
def test_manifest_parse_rejects(body, content_type):
    with pytest.raises(errors.RegistryError) as exc:
        manifests.parse(body, content_type)
    assert exc.value.code == "MANIFEST_INVALID"


def test_tokens_verify_only_their_own_unexpired_signature():
    signer = TokenSigner(b"k" * 32, "svc", ttl=60)
    token, _ = signer.issue("alice", [{"type": "repository", "name": "a/b", "actions": ["pull"]}])
    assert signer.verify(token)["sub"] == "alice"
    assert TokenSigner(b"x" * 32, "svc").verify(token) is None
    assert TokenSigner(b"k" * 32, "other").verify(token) is None
    expired, _ = TokenSigner(b"k" * 32, "svc", ttl=-10).issue("alice", [])
    assert signer.verify(expired) is None
    header, payload, sig = token.split(".")
    assert signer.verify(f"{header}.{payload}x.{sig}") is None
    assert time.time() < signer.verify(token)["exp"]


def test_acl_rules_and_identity():
    rules = [acl.parse_rule("alice * *"), acl.parse_rule("* {user}/* pull,push"), acl.parse_rule("anonymous pub/* pull")]
    assert acl.allowed(rules, "alice", "x/y") == acl.ALL_ACTIONS
    assert acl.allowed(rules, "bob", "bob/app") == {"pull", "push"}
    assert acl.allowed(rules, "bob", "alice/app") == frozenset()
    assert acl.allowed(rules, "b*", "bob/app") == frozenset()  # a user name is not a glob
    assert acl.allowed(rules, None, "pub/x") == {"pull"} and acl.allowed(rules, None, "bob/app") == frozenset()
    with pytest.raises(InvalidArgument):
        acl.parse_rule("alice * fly")
    assert parse_scope("repository:a/b:pull,push").actions == ("pull", "push")
    assert parse_scope("nonsense") is None
    ident = Identity("bob", {("repository", "a/b"): frozenset({"pull"})})
    assert ident.can("repository", "a/b", "pull") and not ident.can("repository", "a/b", "push")
