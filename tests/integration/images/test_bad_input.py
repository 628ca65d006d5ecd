"""Bad input gets one clear line, exit 125, and leaves the store exactly as it was."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest

from tests.helpers.archives import classic_docker_archive, config_for, sha
from tests.helpers.layertars import TarBuilder

pytestmark = pytest.mark.root


def store_state(dy) -> tuple:
    eng = dy.engine()
    return (sorted(dy("images", "-a", "--no-trunc", "-q").out.split()), sorted(eng.content.digests()),
            sorted(s.key for s in eng.snapshots.all()))


def assert_refused(dy, before, *args, input=None, match: str):
    r = dy(*args, input=input, check=False)
    assert r.code == 125, r
    assert match in r.err, r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert store_state(dy) == before
    chk = dy("system", "check")
    assert "store is clean" in chk.out
    return r


def archive_with_layer(layer: bytes) -> bytes:
    return classic_docker_archive([layer], ["evil:1"])


@pytest.mark.parametrize("layer, match", [
    (TarBuilder().file("../escape", b"x").bytes(), "outside"),
    (TarBuilder().file("a/../../escape", b"x").bytes(), "outside"),
    (TarBuilder().symlink("link", "../../..").file("link/pwned", b"x").bytes(), "outside"),
    (TarBuilder().hardlink("hl", "../../etc/passwd").bytes(), ""),
], ids=["dotdot", "nested-dotdot", "symlink-escape", "hardlink-outside"])
def test_escaping_layers_are_refused(dy, busybox, tmp_path, layer, match):
    before = store_state(dy)
    assert_refused(dy, before, "load", input=archive_with_layer(layer), match=match)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "pwned").exists()


def test_absolute_paths_stay_inside(dy, busybox):
    layer = TarBuilder().file("/etc/abs-file", b"inside").bytes()
    dy("load", input=archive_with_layer(layer))
    eng = dy.engine()
    fs = eng.snapshots.fs(eng.images.top_layer(eng.images.get("evil:1")))
    assert (fs / "etc/abs-file").read_bytes() == b"inside"


def test_truncated_gzip_import(dy, busybox):
    before = store_state(dy)
    data = gzip.compress(TarBuilder().file("f", b"x" * 100000).bytes())
    assert_refused(dy, before, "import", "-", "trunc:1", input=data[: len(data) // 2], match="truncated")


def test_corrupt_gzip_import(dy, busybox):
    before = store_state(dy)
    data = bytearray(gzip.compress(TarBuilder().file("f", b"abc" * 1000).bytes()))
    data[20:40] = b"\xff" * 20
    r = dy("import", "-", "bad:1", input=bytes(data), check=False)
    assert r.code == 125 and "Traceback" not in r.err
    assert store_state(dy) == before


def _oci_archive(blobs: dict[str, bytes], index: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in [*blobs.items(), ("index.json", json.dumps(index).encode()), ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_blob_whose_digest_does_not_match(dy, busybox):
    before = store_state(dy)
    layer = TarBuilder().file("f", b"x").bytes()
    arc = _oci_archive({"blobs/sha256/" + "0" * 64: layer}, {"schemaVersion": 2, "manifests": []})
    assert_refused(dy, before, "load", input=arc, match="digest mismatch")


def test_manifest_naming_a_missing_blob(dy, busybox):
    before = store_state(dy)
    layer = TarBuilder().file("f", b"x").bytes()
    cfg = config_for([layer])
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + sha(layer), "size": len(layer)}]}).encode()
    arc = _oci_archive({"blobs/sha256/" + sha(cfg): cfg, "blobs/sha256/" + sha(man): man},
                       {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                           "digest": "sha256:" + sha(man), "size": len(man)}]})
    r = dy("load", input=arc, check=False)
    assert r.code == 125 and "missing" in r.err
    assert dy("images", "-q", "--no-trunc").out.split() == before[0]
    assert "store is clean" in dy("system", "check").out


@pytest.mark.parametrize("manifest, match", [
    (b"{not json", "invalid manifest.json"),
    (b'{"Config": "x"}', "invalid manifest.json"),
    (b'[{"Config": "nope.json", "RepoTags": ["a:1"], "Layers": []}]', "not in the archive"),
    (b'[{"Config": 5, "Layers": []}]', "invalid manifest.json"),
])
def test_bad_manifest_json(dy, busybox, manifest, match):
    before = store_state(dy)
    layer = TarBuilder().file("f", b"x").bytes()
    arc = classic_docker_archive([layer], ["bad:1"], manifest=manifest)
    r = dy("load", input=arc, check=False)
    assert r.code == 125 and match in r.err and "Traceback" not in r.err
    assert dy("images", "-q", "--no-trunc").out.split() == before[0]
    assert "store is clean" in dy("system", "check").out


def test_not_an_archive(dy, busybox):
    before = store_state(dy)
    assert_refused(dy, before, "load", input=b"hello, this is not a tar file" * 100, match="not a valid tar")
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    assert_refused(dy, before, "load", input=empty.getvalue(), match="no manifest.json or index.json")


def test_diff_id_mismatch_is_refused(dy, busybox):
    before = store_state(dy)
    layer = TarBuilder().file("f", b"x").bytes()
    wrong = config_for([TarBuilder().file("g", b"y").bytes()])
    arc = classic_docker_archive([layer], ["lie:1"], config=wrong)
    r = dy("load", input=arc, check=False)
    assert r.code == 125 and "image config says" in r.err
    assert dy("images", "-q", "--no-trunc").out.split() == before[0]


def test_corrupted_blob_is_found_by_check_and_repaired(dy, busybox):
    eng = dy.engine()
    img = eng.images.get("busybox")
    layer = eng.images.manifest(img)["layers"][0]["digest"]
    path = eng.content.path(layer)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    r = dy("system", "check", check=False)
    assert r.code == 1 and f"blob {layer} does not match its digest" in r.out
    r = dy("system", "check", "--repair")
    assert "removed corrupt blob" in r.out and "removed broken image" in r.out
    assert "store is clean" in dy("system", "check").out


def test_a_containers_layers_are_no_leftovers_and_a_clean_repair_changes_nothing(dy, busybox):
    """A container's own layer sits on its init layer: neither is a leftover while it exists,
    and `--repair` with nothing wrong reports no change."""
    dy("create", "--name", "held", "busybox", "true")
    before = store_state(dy)
    assert "reclaimable" not in dy("system", "check").out
    assert "repaired:" not in dy("system", "check", "--repair").out
    assert store_state(dy) == before
