"""`dockyard push/pull` as a user runs them, against dockyard's own registry and the reference one."""

from __future__ import annotations

import re
import subprocess
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import DOCKYARD, Dockyard
from tests.integration.distribution.distribution_support import CountingProxy, start_registry

pytestmark = pytest.mark.root


@contextmanager
def running_registry(dy: Dockyard, root, *args: str):
    """`dockyard registry serve` on a free port, storing under `root`, with more `args`; yields HOST:PORT."""
    proc = subprocess.Popen([DOCKYARD, "registry", "serve", "--addr", "127.0.0.1:0", "--root", str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dy.env)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on https?://(\S+)", line)
        assert m, f"registry did not start: {line!r}"
        yield m.group(1).rstrip("/")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def own_registry(tmp_path, dy):
    """`dockyard registry serve` on a free port; yields HOST:PORT."""
    with running_registry(dy, tmp_path / "reg") as host:
        yield host


def blob_bytes(host: str) -> int:
    text = httpx.get(f"http://{host}/metrics").text
    return int(re.search(r"^dockyard_registry_blob_bytes_received_total (\d+)", text, re.M).group(1))


def test_push_pull_round_trip_same_id_and_no_resend(dy, busybox, own_registry, tmp_path):
    ref = f"{own_registry}/team/bb:1"
    dy("tag", "busybox", ref)
    out = dy("push", ref).out
    assert out.startswith(f"The push refers to repository [{own_registry}/team/bb]")
    assert "Pushed" in out
    first = blob_bytes(own_registry)
    assert first > 1_000_000  # the busybox layer went up once
    out = dy("push", ref).out
    assert "Layer already exists" in out and "Pushed" not in out
    assert blob_bytes(own_registry) == first  # the second push sent no blob bytes
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", out).group(1)

    other = Dockyard(tmp_path / "root2", tmp_path / "run2")
    out = other("pull", ref).out
    assert f"Digest: {digest}" in out and "Downloaded newer image" in out
    assert other("images", "-q", "--no-trunc").out.strip() == busybox
    doc = other("image", "inspect", "-f", "{{index .RepoDigests 0}}", ref).out.strip()
    assert doc == f"{own_registry}/team/bb@{digest}"
    assert "Image is up to date" in other("pull", ref).out
    # by digest too
    other("rmi", ref)
    other("pull", f"{own_registry}/team/bb@{digest}")
    assert other("images", "-q", "--no-trunc").out.strip() == busybox


def test_push_to_second_repo_mounts_instead_of_uploading(dy, busybox, own_registry):
    dy("tag", "busybox", f"{own_registry}/a/base:1")
    dy("push", f"{own_registry}/a/base:1")
    sent = blob_bytes(own_registry)
    dy("tag", "busybox", f"{own_registry}/b/app:1")
    out = dy("push", f"{own_registry}/b/app:1").out
    assert blob_bytes(own_registry) == sent
    assert "Mounted from" in out or "Layer already exists" in out


def test_reference_registry_push_pull(dy, busybox, tmp_path):
    gen = start_registry(tmp_path)
    reg = next(gen)
    try:
        proxy = CountingProxy(int(reg.host.rsplit(":", 1)[1]))
        host = f"127.0.0.1:{proxy.port}"
        ref = f"{host}/lib/bb:v1"
        dy("tag", "busybox", ref)
        dy("push", ref)
        before = proxy.sent
        assert "Layer already exists" in dy("push", ref).out  # settled by HEAD requests (uptodate.py)
        assert proxy.sent - before < 20_000  # manifests and HEADs only, no layer bytes
        other = Dockyard(tmp_path / "r2", tmp_path / "run2")
        other("pull", ref)
        assert other("images", "-q", "--no-trunc").out.strip() == busybox
        assert f"Status: Image is up to date for {ref}" in other("pull", ref).out
        proxy.close()
    finally:
        gen.close()


def test_pull_errors_are_one_line(dy, own_registry):
    r = dy("pull", f"{own_registry}/nothing/here:1", check=False)
    assert r.code == 125 and "not found" in r.err and "Traceback" not in r.err
    r = dy("pull", "127.0.0.1:1/x:1", check=False)
    assert r.code == 125 and "cannot reach registry" in r.err
    r = dy("push", f"{own_registry}/missing:1", check=False)
    assert r.code == 125 and "does not exist locally" in r.err


def test_nothing_to_do_is_settled_only_when_the_registry_agrees(dy, busybox, own_registry, tmp_path):
    """`pull` and `push` with nothing to transfer answer from a HEAD request or two (before the
    full client loads); a moved tag or a missing blob on the registry still gets the full work."""
    ref = f"{own_registry}/team/settled:1"
    dy("tag", "busybox", ref)
    first = dy("push", ref).out
    again = dy("push", ref).out
    digest = re.search(r"digest: (sha256:[0-9a-f]{64}) size: \d+", first).group(0)
    assert again.splitlines()[-1].endswith(digest) and again.count("Layer already exists") == 2
    assert dy("push", "-q", ref).out == ref + "\n"

    other = Dockyard(tmp_path / "root2", tmp_path / "run2")
    assert "Downloaded newer image" in other("pull", ref).out
    up_to_date = other("pull", ref).out.splitlines()
    assert up_to_date[0] == "1: Pulling from team/settled" and up_to_date[-1] == ref
    assert f"Status: Image is up to date for {ref}" in up_to_date
    assert other("pull", "-q", ref).out == ref + "\n"

    # the tag moves on the registry: the next pull must fetch, not claim "up to date"
    dy("run", "--name", "changer", "--network", "none", "busybox", "touch", "/new-file")
    dy("commit", "changer", ref)
    dy("push", ref)
    assert "Downloaded newer image" in other("pull", ref).out
    assert other("run", "--rm", "--network", "none", ref, "ls", "/new-file").out == "/new-file\n"

    # a blob gone from the registry: the push uploads it again
    manifest = httpx.get(f"http://{own_registry}/v2/team/settled/manifests/1",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                                            "application/vnd.docker.distribution.manifest.v2+json"}).json()
    top = manifest["layers"][-1]["digest"]
    assert httpx.delete(f"http://{own_registry}/v2/team/settled/blobs/{top}").status_code == 202
    before = blob_bytes(own_registry)
    out = dy("push", ref).out
    assert f"{top[7:19]}: Pushed" in out and blob_bytes(own_registry) > before
