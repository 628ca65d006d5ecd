"""Docker's reference normalisation, case by case."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.reference import looks_like_id, parse, parse_normalized

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"),
    ("example.com/team/app:v1.2_3", "example.com/team/app:v1.2_3", "example.com/team/app:v1.2_3"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
    (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}", f"busybox:1@{DIGEST}"),
    ("team/a.b-c__d", "docker.io/team/a.b-c__d:latest", "team/a.b-c__d:latest"),
    ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
])
def test_normalisation(text, full, familiar):
    ref = parse_normalized(text)
    assert str(ref) == full
    assert ref.familiar == familiar


@pytest.mark.parametrize("text, rule", [
    ("", "empty"),
    ("Busybox", "must be lowercase"),
    ("user/App", "must be lowercase"),
    ("busybox:-bad", "tag"),
    ("busybox:" + "x" * 129, "tag"),
    ("bad..name", "may only hold"),
    ("-bad", "may only hold"),
    ("busybox@sha256:xyz", "bad digest"),
    ("a" * 64, "64-byte hexadecimal"),
    ("host:port:x/y", "not a valid host"),
    ("x/" + "a" * 260, "longer than"),
])
def test_bad_names_say_which_rule(text, rule):
    with pytest.raises(InvalidArgument) as e:
        parse(text)
    assert rule in e.value.message
    assert "\n" not in e.value.message


def test_uppercase_registry_host_is_allowed_but_not_path():
    assert parse("Example.COM/app").domain == "Example.COM"


@pytest.mark.parametrize("text, expected", [
    ("3cc922f52ff1", True), ("sha256:3cc9", True), ("busybox", False), ("3cc9:1", False), ("", False),
])
def test_looks_like_id(text, expected):
    assert looks_like_id(text) is expected
