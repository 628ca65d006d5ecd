"""Digests of both algorithms the OCI spec registers; anything else refused."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Hasher, algorithm_of, digest_of, from_hex, hex_of, validate


def test_sha256_and_sha512_are_valid_and_hash_alike():
    data = b"content"
    d256, d512 = digest_of(data), digest_of(data, "sha512")
    assert d256 == "sha256:" + hashlib.sha256(data).hexdigest()
    assert d512 == "sha512:" + hashlib.sha512(data).hexdigest()
    for d in (d256, d512):
        assert validate(d) == d and from_hex(hex_of(d)) == d
        h = Hasher(algorithm_of(d))
        h.update(data)
        assert h.digest == d and h.size == len(data)


@pytest.mark.parametrize("bad", ["sha512:" + "a" * 64, "sha256:" + "a" * 128, "sha384:" + "a" * 96,
                                 "sha256:" + "A" * 64, "md5:abc", "", None])
def test_other_forms_are_refused(bad):
    with pytest.raises(InvalidArgument):
        validate(bad)


def test_from_hex_knows_only_hex_names():
    assert from_hex("x" * 64) is None and from_hex("a" * 10) is None and from_hex(".tmp-1") is None
