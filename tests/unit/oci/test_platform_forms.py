"""The forms a platform is written in, and how they compare, as docker normalises them."""

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.platform import Platform, of_document, parse_platform


@pytest.mark.parametrize("text,shown", [
    ("linux/amd64", "linux/amd64"), ("amd64", "linux/amd64"), ("linux/x86_64", "linux/amd64"),
    ("linux/arm64", "linux/arm64/v8"), ("linux/aarch64", "linux/arm64/v8"), ("linux/arm64/v8", "linux/arm64/v8"),
    ("linux/arm", "linux/arm/v7"), ("linux/arm/v6", "linux/arm/v6"), ("LINUX/ARM64", "linux/arm64/v8"),
])
def test_forms_normalise_as_docker_prints_them(text, shown):
    assert str(parse_platform(text)) == shown


@pytest.mark.parametrize("bad", ["", "linux/", "/amd64", "a/b/c/d", "linux//v7"])
def test_malformed_platforms_are_refused(bad):
    with pytest.raises(InvalidArgument):
        parse_platform(bad)


def test_config_and_index_entry_forms_compare_equal():
    config = {"architecture": "arm64", "os": "linux"}  # no variant, as many arm64 images are
    assert of_document(config).matches(parse_platform("linux/arm64/v8"))
    assert not of_document(config).matches(parse_platform("linux/amd64"))
    assert Platform("linux", "amd64").normalized().as_dict() == {"architecture": "amd64", "os": "linux"}
    assert parse_platform("linux/arm64").as_dict() == {"architecture": "arm64", "os": "linux", "variant": "v8"}


def test_select_prefers_the_exact_variant_then_the_best_older_one():
    from dockyard.oci.platform import select_manifest
    index = {"manifests": [{"digest": "v6", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
                           {"digest": "v5", "platform": {"os": "linux", "architecture": "arm", "variant": "v5"}},
                           {"digest": "a64", "platform": {"os": "linux", "architecture": "arm64"}}]}
    assert select_manifest(index, parse_platform("linux/arm/v7"))["digest"] == "v6"
    assert select_manifest(index, parse_platform("linux/arm64/v8"))["digest"] == "a64"
