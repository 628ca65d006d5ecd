"""save/load against the formats and tools others use: docker-archive, OCI layout, skopeo, umoci."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile

import pytest

from tests.helpers.archives import classic_docker_archive, config_for, sha
from tests.helpers.treecompare import assert_same_tree

pytestmark = pytest.mark.root


def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed (make test installs it)")
    return path


def members(path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as t:
        return {m.name: m for m in t.getmembers()}


def test_docker_archive_has_docker_save_structure(dy, busybox, tmp_path):
    out = tmp_path / "bb.tar"
    dy("save", "-o", str(out), "busybox")
    names = members(out)
    assert {"manifest.json", "repositories", "index.json", "oci-layout"} <= names.keys()
    with tarfile.open(out) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        repos = json.load(t.extractfile("repositories"))
        config = json.load(t.extractfile(manifest[0]["Config"]))
        layer = t.extractfile(manifest[0]["Layers"][0]).read()
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert manifest[0]["Config"] == "blobs/sha256/" + busybox[7:]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + sha(layer)]
    assert repos == {"busybox": {"latest": sha(layer)}}
    # a layer is a plain tar, as docker writes it
    names = tarfile.open(fileobj=io.BytesIO(layer)).getnames()
    assert "bin/busybox" in names and "bin/sh" in names


def test_save_to_stdout_and_load_from_stdin_round_trip(dy, busybox, tmp_path):
    data = subprocess.run([*dy_cmd(dy), "save", "busybox"], capture_output=True, env=dy.env, check=True).stdout
    dy("rmi", "busybox")
    out = dy("load", input=data).out
    assert out.strip() == "Loaded image: busybox:latest"
    assert dy("images", "-q", "--no-trunc").out.strip() == busybox


def dy_cmd(dy):
    from tests.conftest import DOCKYARD
    return [DOCKYARD]


def test_classic_docker_archive_loads(dy, tmp_path):
    from tests.helpers.layertars import TarBuilder
    l1 = TarBuilder().dir("etc").file("etc/hostname", b"one\n").file("bin/tool", b"#!/bin/sh\n", mode=0o755).bytes()
    l2 = TarBuilder().file("etc/hostname", b"two\n").file(".wh.bin", b"").bytes()
    arc = classic_docker_archive([l1, l2], ["classic/app:2"])
    (tmp_path / "c.tar").write_bytes(arc)
    assert dy("load", "-i", str(tmp_path / "c.tar")).out.strip() == "Loaded image: classic/app:2"
    iid = "sha256:" + sha(config_for([l1, l2]))
    assert dy("images", "-q", "--no-trunc").out.strip() == iid
    eng = dy.engine()
    img = eng.images.get("classic/app:2")
    top = eng.snapshots.fs(eng.images.top_layer(img))
    assert (top / "etc/hostname").read_text() == "two\n"


def test_gzip_compressed_archive_loads(dy, busybox, tmp_path):
    import gzip
    dy("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    dy("rmi", "busybox")
    (tmp_path / "bb.tar.gz").write_bytes(gzip.compress((tmp_path / "bb.tar").read_bytes(), 1))
    assert "busybox:latest" in dy("load", "-q", "-i", str(tmp_path / "bb.tar.gz")).out + "busybox:latest"
    assert dy("images", "-q", "--no-trunc").out.strip() == busybox


def test_skopeo_reads_oci_export(dy, busybox, tmp_path):
    need("skopeo")
    dy("save", "--format", "oci", "-o", str(tmp_path / "bb-oci.tar"), "busybox")
    info = json.loads(subprocess.run(["skopeo", "inspect", f"oci-archive:{tmp_path}/bb-oci.tar:latest"],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["Os"] == "linux" and len(info["Layers"]) == 1
    raw = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci-archive:{tmp_path}/bb-oci.tar:latest"],
                                    capture_output=True, text=True, check=True).stdout)
    assert raw["config"]["Cmd"] == ["sh"]
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{tmp_path}/bb-oci.tar:latest", f"oci:{tmp_path}/layout:latest"],
                   check=True, capture_output=True)
    assert json.loads((tmp_path / "layout/index.json").read_text())["manifests"]


def test_umoci_unpack_matches_dockyard_rootfs(dy, busybox, tmp_path):
    need("umoci")
    need("skopeo")
    dy("save", "--format", "oci", "-o", str(tmp_path / "bb-oci.tar"), "busybox")
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(tmp_path / "bb-oci.tar") as t:
        t.extractall(layout)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)], check=True, capture_output=True)
    eng = dy.engine()
    fs = eng.snapshots.fs(eng.images.top_layer(eng.images.get("busybox")))
    # umoci owns the bundle root dir itself; compare everything below it
    assert_same_tree(fs, bundle / "rootfs", ignore=())


def test_skopeo_docker_archive_to_oci_loads_back_with_same_id(dy, busybox, tmp_path):
    need("skopeo")
    dy("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{tmp_path}/bb.tar", f"oci-archive:{tmp_path}/sk.tar:copied/bb:1"],
                   check=True, capture_output=True)
    dy("rmi", "busybox")
    out = dy("load", "-i", str(tmp_path / "sk.tar")).out.strip()
    assert out.startswith("Loaded image")
    assert dy("images", "-q", "--no-trunc").out.strip() == busybox
