"""Options of distribution round two checked before any work: compression and the proxy."""

from __future__ import annotations

import pytest

from dockyard.distribution.compress import Compression
from dockyard.distribution.mirrors import normalize
from dockyard.errors import InvalidArgument
from dockyard.registry.proxy import options, parse_ttl


def test_compression_levels():
    assert Compression("gzip", 9).writer_level == 3 and Compression("gzip", 0).writer_level == 0
    assert Compression("zstd", 19).writer_level == 19 and Compression().writer_level is None
    for fmt, level in (("gzip", 10), ("zstd", 0), ("zstd", 23), ("brotli", None)):
        with pytest.raises(InvalidArgument):
            Compression(fmt, level)


def test_proxy_ttl_and_options():
    assert parse_ttl(None) == 0 and parse_ttl("90") == 90 and parse_ttl("10m") == 600 and parse_ttl("168h") == 604800
    for bad in ("soon", "-1", "5x"):
        with pytest.raises(InvalidArgument):
            parse_ttl(bad)
    assert options(None) is None
    assert options("http://127.0.0.1:5000", ttl="1h") == {"remote": "http://127.0.0.1:5000", "username": "",
                                                            "password": "", "ttl": 3600.0}
    for args in (("ftp://host",), ("http://h", "user", ""), (None, "user", "pw")):
        with pytest.raises(InvalidArgument):
            options(*args)


def test_mirror_urls_in_dockerd_form():
    assert normalize("https://mirror.example:5000") == "https://mirror.example:5000/"
    assert normalize("http://127.0.0.1:5000/") == "http://127.0.0.1:5000/"
    for bad in ("mirror.example", "https://mirror.example/v2/", "ftp://x", "https://x/?a=1"):
        with pytest.raises(InvalidArgument):
            normalize(bad)


def test_mirrors_in_turn_then_the_registry_itself():
    from dockyard.distribution.mirrors import through_mirrors
    from dockyard.errors import DockyardError, NoSpace
    from dockyard.oci.reference import parse_normalized

    tried = []

    def attempt(ref, insecure):
        tried.append((ref.domain, ref.path, tuple(insecure)))
        if ref.domain != "docker.io":
            raise DockyardError("mirror down")
        return "pulled"

    ref = parse_normalized("busybox")
    mirrors = ["http://127.0.0.1:5001/", "https://mirror.example/"]
    assert through_mirrors(ref, mirrors, ["10.0.0.1:5000"], attempt) == "pulled"
    assert tried == [("127.0.0.1:5001", "library/busybox", ("10.0.0.1:5000", "127.0.0.1:5001")),
                     ("mirror.example", "library/busybox", ("10.0.0.1:5000",)),
                     ("docker.io", "library/busybox", ("10.0.0.1:5000",))]
    tried.clear()
    with pytest.raises(DockyardError):
        through_mirrors(parse_normalized("registry.example/app"), mirrors, [], attempt)
    assert [t[0] for t in tried] == ["registry.example"]  # only the default registry is mirrored

    def full(ref, insecure):
        raise NoSpace("disk full")
    with pytest.raises(NoSpace):
        through_mirrors(ref, mirrors, [], full)
