"""The image commands as a user runs them: bootstrap, images, inspect, tag, rmi, history, import, prune, df."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

pytestmark = pytest.mark.root


def test_bootstrap_busybox_is_a_normal_reproducible_image(dy, busybox):
    lines = dy("images").out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = lines[1].split()
    assert row[:3] == ["busybox", "latest", busybox[7:19]]
    doc = json.loads(dy("image", "inspect", "busybox").out)[0]
    assert doc["Id"] == busybox
    assert doc["RepoTags"] == ["busybox:latest"]
    assert doc["Config"]["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") and "/bin" in e for e in doc["Config"]["Env"])
    assert doc["Os"] == "linux" and doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 1
    # the same host busybox gives the same image ID again
    again = dy("image", "bootstrap", "busybox", "v2").out.split()[-1]
    assert again == busybox
    assert dy("images", "-q").out.split() == [busybox[7:19]]


def test_bootstrap_rootfs_has_the_official_layout(dy, busybox):
    eng = dy.engine()
    img = eng.images.get("busybox")
    fs = eng.snapshots.fs(eng.images.top_layer(img))
    assert (fs / "bin/busybox").is_file()
    assert (fs / "bin/sh").stat().st_ino == (fs / "bin/busybox").stat().st_ino
    assert "root:x:0:0" in (fs / "etc/passwd").read_text()
    assert oct((fs / "tmp").stat().st_mode & 0o7777) == "0o1777"
    assert list((fs / "dev").iterdir()) == []


def test_format_filters_and_digests(dy, busybox):
    dy("tag", "busybox", "example.com:5000/team/app:1.0")
    out = dy("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").out.split("\n")
    assert f"example.com:5000/team/app:1.0 {busybox[7:19]}" in out
    assert f"busybox:latest {busybox[7:19]}" in out
    out = dy("images", "--filter", "reference=busybox", "--format", "{{.Repository}}").out.split()
    assert out == ["busybox"]
    assert dy("images", "--filter", "dangling=true", "-q").out == ""
    js = [json.loads(l) for l in dy("images", "--format", "json").out.splitlines()]
    assert {j["Repository"] for j in js} == {"busybox", "example.com:5000/team/app"}
    header = dy("images", "--digests").out.splitlines()[0].split()
    assert header[:3] == ["REPOSITORY", "TAG", "DIGEST"]
    tmpl = dy("image", "inspect", "-f", "{{join .Config.Cmd \",\"}}|{{index .RepoTags 0}}|{{range .Config.Env}}{{.}}{{end}}",
              "busybox").out.strip()
    assert tmpl.startswith("sh|busybox:latest|PATH=")
    bad = dy("images", "--filter", "color=red", check=False)
    assert bad.code == 125 and "invalid filter" in bad.err and "Traceback" not in bad.err


def test_tag_and_rmi_follow_docker(dy, busybox):
    dy("tag", "busybox", "mine:1")
    out = dy("rmi", "mine:1").out
    assert out.strip() == "Untagged: mine:1"
    assert dy("images", "-q").out.split() == [busybox[7:19]]
    out = dy("rmi", "busybox").out.splitlines()
    assert out == ["Untagged: busybox:latest", f"Deleted: {busybox}"]
    assert dy("images", "-q").out == ""
    r = dy("rmi", "busybox", check=False)
    assert r.code == 125 and r.err.strip() == "Error: No such image: busybox:latest"
    # nothing left behind once the last image is gone
    eng = dy.engine()
    assert list(eng.content.digests()) == [] and eng.snapshots.all() == []


def test_rmi_by_id_with_several_tags_needs_force(dy, busybox):
    dy("tag", "busybox", "other:1")
    r = dy("rmi", busybox[7:19], check=False)
    assert r.code == 125 and "referenced in multiple repositories" in r.err
    out = dy("rmi", "-f", busybox[7:19]).out.splitlines()
    assert "Untagged: other:1" in out and f"Deleted: {busybox}" in out


def test_a_tag_wins_over_an_id_prefix_as_in_docker(dy, busybox):
    """`c3` names the image tagged c3 even when another image's ID starts with c3."""
    other = dy("import", "-", input=_tar({"f": b"other"})).out.strip()
    prefix = busybox[7:11]
    dy("tag", other, prefix)  # an image tagged with the first hex digits of busybox's ID
    assert json.loads(dy("image", "inspect", prefix).out)[0]["Id"] == other
    assert json.loads(dy("image", "inspect", busybox[7:19]).out)[0]["Id"] == busybox  # longer: no such tag
    assert dy("rmi", prefix).out.splitlines() == [f"Untagged: {prefix}:latest", f"Deleted: {other}"]
    assert json.loads(dy("image", "inspect", prefix).out)[0]["Id"] == busybox  # now the ID prefix


def test_bad_reference_names_the_rule(dy):
    r = dy("tag", "nothing", "Bad/Name", check=False)
    assert r.code == 125
    r = dy("image", "bootstrap", "busybox", "-bad-tag", check=False)
    assert r.code != 0
    r = dy("image", "inspect", "UPPER", check=False)
    assert r.code == 125 and "must be lowercase" in r.err and "Traceback" not in r.err


def test_history(dy, busybox):
    lines = dy("history", "busybox").out.splitlines()
    assert lines[0].split()[:2] == ["IMAGE", "CREATED"]
    assert lines[1].startswith(busybox[7:19])
    assert "bootstrap busybox" in dy("history", "--no-trunc", "busybox").out
    assert dy("history", "-q", "busybox").out.split() == [busybox[7:19]]


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_import_from_stdin_and_file_with_changes(dy, tmp_path):
    data = _tar({"hello.txt": b"hi\n", "etc/motd": b"welcome\n"})
    iid = dy("import", "--change", "CMD [\"cat\", \"/hello.txt\"]", "-c", "ENV A=1 B=2", "-m", "first", "-", "imp:1",
             input=data).out.strip()
    assert iid.startswith("sha256:")
    doc = json.loads(dy("image", "inspect", "imp:1").out)[0]
    assert doc["Config"]["Cmd"] == ["cat", "/hello.txt"]
    assert "A=1" in doc["Config"]["Env"] and "B=2" in doc["Config"]["Env"]
    assert doc["Comment"] == "first"
    path = tmp_path / "fs.tgz"
    path.write_bytes(data)
    iid2 = dy("import", str(path)).out.strip()
    assert iid2 != iid  # fresh created time and config
    assert "<none>" in dy("images").out
    r = dy("import", str(tmp_path / "missing.tar"), check=False)
    assert r.code == 125 and "no such file" in r.err


def test_prune_and_df(dy, busybox):
    dy("tag", "busybox", "keep:1")
    df = dy("system", "df").out.splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].split()[:3] == ["Images", "1", "0"]
    out = dy("image", "prune", "-f").out
    assert "Total reclaimed space: 0B" in out
    out = dy("image", "prune", "-a", "-f").out
    assert "Deleted Images:" in out and f"deleted: {busybox}" in out
    assert dy("images", "-q").out == ""


def test_image_tree_shows_shared_base(dy, busybox, tmp_path):
    # a second image on top of busybox: save busybox, add a layer by hand, load it back
    eng = dy.engine()
    img = eng.images.get("busybox")
    base_diff = eng.images.config(img)["rootfs"]["diff_ids"][0]
    dy("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    with tarfile.open(tmp_path / "bb.tar") as t:
        base = t.extractfile("blobs/sha256/" + base_diff[7:]).read()
    top = _plain_tar({"app.txt": b"app"})
    from tests.helpers.archives import classic_docker_archive
    arc = classic_docker_archive([base, top], ["app:1"])
    dy("load", input=arc)
    tree = dy("image", "tree").out
    lines = tree.splitlines()
    assert lines[0].startswith(base_diff[7:19]) and "busybox:latest" in lines[0]
    assert lines[1].startswith("└── ") and "app:1" in lines[1]


def _plain_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_unknown_command_and_flag_exit_125(dy):
    r = dy("images", "--bogus", check=False)
    assert r.code == 125 and "No such option" in r.err
