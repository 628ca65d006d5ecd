"""Pure pieces of the registry client: challenges, platforms, insecure hosts, mount sources, Range headers."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from dockyard.distribution.auth import Authenticator, Challenge, basic_header, parse_challenges
from dockyard.distribution.endpoints import endpoint_host, is_insecure
from dockyard.distribution.credentials import Credentials
from dockyard.oci.platform import Platform, parse_platform, select_manifest
from dockyard.distribution.progress import RichProgress
from dockyard.distribution.push import _mount_sources, _range_end
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.oci.reference import parse_normalized


def test_parse_bearer_and_basic_challenges():
    header = ('Bearer realm="https://auth.example/token",service="registry.example",'
              'scope="repository:library/busybox:pull,push", Basic realm="a \\"quoted\\" realm"')
    assert parse_challenges(header) == [
        Challenge("bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                             "scope": "repository:library/busybox:pull,push"}),
        Challenge("basic", {"realm": 'a "quoted" realm'}),
    ]
    assert parse_challenges("Bearer realm=http://h/t,error=invalid_token") == [
        Challenge("bearer", {"realm": "http://h/t", "error": "invalid_token"})]
    assert parse_challenges("") == []


def test_basic_challenge_needs_credentials_and_unknown_schemes_fail():
    basic = Challenge("basic", {"realm": "r"})
    assert Authenticator("h", None).header(None, basic, ()) is None
    assert Authenticator("h", Credentials("u", "p")).header(None, basic, ()) == basic_header(Credentials("u", "p"))
    with pytest.raises(DockyardError, match="unsupported auth scheme 'negotiate'"):
        Authenticator("h", None).header(None, Challenge("negotiate"), ())


@pytest.mark.parametrize("text, expected", [
    ("linux/amd64", Platform("linux", "amd64", "v1")),
    ("linux/arm64", Platform("linux", "arm64", "v8")),
    ("arm64", Platform("linux", "arm64", "v8")),
    ("linux/arm/v6", Platform("linux", "arm", "v6")),
    ("linux/x86_64", Platform("linux", "amd64", "v1")),
])
def test_parse_platform(text, expected):
    assert parse_platform(text) == expected


def test_parse_platform_rejects_garbage():
    with pytest.raises(InvalidArgument):
        parse_platform("linux//v7")


def _index(*platforms):
    return {"manifests": [{"digest": f"d{i}", "platform": p} for i, p in enumerate(platforms)]}


def test_select_manifest_matches_variants_and_skips_attestations():
    index = _index({"os": "unknown", "architecture": "unknown"},
                   {"os": "linux", "architecture": "amd64"},
                   {"os": "linux", "architecture": "arm64", "variant": "v8"},
                   {"os": "linux", "architecture": "arm", "variant": "v5"},
                   {"os": "linux", "architecture": "arm", "variant": "v6"})
    assert select_manifest(index, parse_platform("linux/amd64"))["digest"] == "d1"
    assert select_manifest(index, parse_platform("linux/arm64"))["digest"] == "d2"
    assert select_manifest(index, parse_platform("linux/arm/v7"))["digest"] == "d4", "best older arm variant"
    with pytest.raises(NotFound, match="no matching manifest for linux/arm/v4"):
        select_manifest(index, parse_platform("linux/arm/v4"))
    with pytest.raises(NotFound, match="no matching manifest for linux/riscv64"):
        select_manifest(index, parse_platform("linux/riscv64"))


def test_insecure_hosts_and_endpoints():
    assert is_insecure("localhost:5000") and is_insecure("127.0.0.5:80") and is_insecure("[::1]:5000")
    assert not is_insecure("registry.example") and not is_insecure("10.0.0.1:5000")
    assert is_insecure("10.0.0.1:5000", ["http://10.0.0.1:5000"])
    assert endpoint_host("docker.io") != "docker.io"
    assert endpoint_host("ghcr.io") == "ghcr.io"


def test_mount_sources_stay_on_the_target_registry():
    ref = parse_normalized("reg.example:5000/team/app:1")
    assert _mount_sources(ref, ["team/base", "reg.example:5000/other", "elsewhere.io/x", "team/app", "team/base"]) \
        == ["team/base", "other"]


def test_range_end():
    assert _range_end("0-1023", 0) == 1023
    assert _range_end("bytes=0-99", 0) == 99
    assert _range_end(None, 7) == 7
    with pytest.raises(DockyardError, match="malformed upload Range"):
        _range_end("nonsense", 0)


def test_rich_progress_prints_final_lines_off_terminal():
    out = io.StringIO()
    digest = "sha256:" + "ab" * 32
    with RichProgress(Console(file=out, force_terminal=False)) as progress:
        progress.start(digest, "Downloading", 10)
        progress.advance(digest, 10)
        progress.finish(digest, "Pull complete")
        progress.finish("sha256:" + "cd" * 32, "Already exists")
    assert out.getvalue().splitlines() == ["abababababab: Pull complete", "cdcdcdcdcdcd: Already exists"]
