"""A container's filesystem from outside: cp both ways, diff, commit, export; and stats, update."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from tests.conftest import DOCKYARD

pytestmark = pytest.mark.root


@pytest.fixture
def changed(dy, busybox):
    dy("run", "-d", "--name", "work", "busybox", "sh", "-c",
       "echo made > /made.txt; rm /etc/shadow; mkdir -p /var/data && echo d > /var/data/x; sleep 60")
    dy("exec", "work", "test", "-f", "/var/data/x")
    return "work"


def test_diff_shows_exactly_the_changes(dy, changed):
    lines = dy("diff", changed).out.splitlines()
    assert set(lines) == {"C /etc", "D /etc/shadow", "A /made.txt", "C /var", "A /var/data", "A /var/data/x"}


def test_commit_adds_one_layer_with_those_changes(dy, changed):
    base_layers = json.loads(dy("image", "inspect", "busybox").out)[0]["RootFS"]["Layers"]
    iid = dy("commit", "-m", "snapshot", "-a", "me", "-c", "ENV COMMITTED=yes", changed, "snap:1").out.strip()
    doc = json.loads(dy("image", "inspect", "snap:1").out)[0]
    assert doc["Id"] == iid and doc["RootFS"]["Layers"][:-1] == base_layers and len(doc["RootFS"]["Layers"]) == 2
    assert "COMMITTED=yes" in doc["Config"]["Env"] and doc["Author"] == "me" and doc["Comment"] == "snapshot"
    out = dy("run", "--rm", "snap:1", "sh", "-c", "cat /made.txt /var/data/x; test -e /etc/shadow || echo gone").out
    assert out == "made\nd\ngone\n"
    # the new layer holds exactly the changes: the three files, the whiteout and their dirs
    eng = dy.engine()
    man = eng.images.manifest(eng.images.get("snap:1"))
    from dockyard.layers.compression import open_reader
    with eng.content.open(man["layers"][-1]["digest"]) as f:
        names = sorted(tarfile.open(fileobj=io.BytesIO(open_reader(f).read())).getnames())
    assert names == ["etc", "etc/.wh.shadow", "made.txt", "var", "var/data", "var/data/x"]
    assert dy("history", "-q", "snap:1").out.split()[0] == iid[7:19]


def test_cp_both_ways(dy, changed, tmp_path):
    (tmp_path / "in.txt").write_text("to the container")
    dy("cp", str(tmp_path / "in.txt"), f"{changed}:/tmp/")
    assert dy("exec", changed, "cat", "/tmp/in.txt").out == "to the container"
    dy("cp", str(tmp_path / "in.txt"), f"{changed}:/tmp/renamed.txt")
    assert dy("exec", changed, "cat", "/tmp/renamed.txt").out == "to the container"
    dy("cp", f"{changed}:/var/data", str(tmp_path))
    assert (tmp_path / "data" / "x").read_text() == "d\n"
    dy("cp", f"{changed}:/made.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "made\n"
    tar = subprocess.run([DOCKYARD, "cp", f"{changed}:/made.txt", "-"], capture_output=True, env=dy.env, check=True).stdout
    assert tarfile.open(fileobj=io.BytesIO(tar)).extractfile("made.txt").read() == b"made\n"
    r = dy("cp", f"{changed}:/no/such", str(tmp_path), check=False)
    assert r.code == 125 and "Could not find the file" in r.err


def test_cp_cannot_escape_through_a_symlink(dy, busybox, tmp_path):
    dy("run", "-d", "--name", "trap", "busybox", "sh", "-c", "ln -s / /escape; ln -s /etc/passwd /pw; sleep 60")
    dy("exec", "trap", "test", "-L", "/escape")
    (tmp_path / "evil").write_text("x")
    dy("cp", str(tmp_path / "evil"), "trap:/escape/tmp/")
    assert dy("exec", "trap", "cat", "/tmp/evil").out == "x"  # landed inside the container's root
    dy("cp", "trap:/pw", str(tmp_path / "pw"))
    assert (tmp_path / "pw").is_symlink() or "root:x:0:0" in (tmp_path / "pw").read_text()


def test_export_is_the_whole_filesystem(dy, changed, tmp_path):
    dy("export", "-o", str(tmp_path / "fs.tar"), changed)
    names = set(tarfile.open(tmp_path / "fs.tar").getnames())
    assert {"bin/busybox", "made.txt", "var/data/x"} <= names and "etc/shadow" not in names


def test_stats_and_update(dy, changed):
    out = dy("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}").out.split()
    assert out[0] == changed and int(out[1]) >= 1 and "/" in out
    dy("update", "--memory", "64m", "--pids-limit", "50", changed)
    doc = json.loads(dy("inspect", changed).out)[0]
    assert doc["HostConfig"]["Memory"] == 64 << 20 and doc["HostConfig"]["PidsLimit"] == 50
    c = dy.engine().containers.get(changed)
    limit = open(f"/sys/fs/cgroup/memory/{dy.tag}/{c.id}/memory.limit_in_bytes").read().strip()
    assert int(limit) == 64 << 20
