"""The docker CLI against `dockyard serve`: system, images, volumes, networks, build, push/pull, events."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from tests.e2e.api.conftest import DOCKER
from tests.integration.distribution.test_cli_push_pull import own_registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.root


def test_version_info_images_tag_rmi(api, busybox):
    out = api.docker("version").out
    assert "Server: dockyard" in out and "API version:      1.47 (minimum version 1.24)" in out
    info = json.loads(api.docker("info", "--format", "{{json .}}").out)
    assert info["Images"] == 1 and info["Driver"] in ("overlay", "vfs") and info["OSType"] == "linux"
    rows = api.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").out.split("\n")
    assert rows[0] == f"busybox:latest {busybox[7:19]}"
    api.docker("tag", "busybox", "team/app:1")
    assert "team/app:1" in api.docker("images", "--format", "{{.Repository}}:{{.Tag}}").out
    assert api.docker("image", "inspect", "-f", "{{.Id}}", "team/app:1").out.strip() == busybox
    assert api.docker("rmi", "team/app:1").out.strip() == "Untagged: team/app:1"
    assert "CREATED BY" in api.docker("history", "busybox").out


def test_save_load_round_trip(api, busybox, tmp_path):
    api.docker("save", "-o", str(tmp_path / "bb.tar"), "busybox")
    api.docker("rmi", "busybox")
    assert api.docker("images", "-q").out.strip() == ""
    assert api.docker("load", "-i", str(tmp_path / "bb.tar")).out.strip() == "Loaded image: busybox:latest"
    assert api.docker("images", "-q", "--no-trunc").out.strip() == busybox
    piped = subprocess.run(f"{DOCKER} save busybox | {DOCKER} load", shell=True, env=api.env, capture_output=True,
                           text=True, timeout=60)
    assert piped.returncode == 0 and piped.stdout.strip() == "Loaded image: busybox:latest", piped.stderr


def test_volumes_networks_and_df(api, busybox):
    assert api.docker("volume", "create", "data").out.strip() == "data"
    assert api.docker("volume", "ls", "--format", "{{.Name}}").out.split() == ["data"]
    vol = json.loads(api.docker("volume", "inspect", "data").out)[0]
    assert vol["Driver"] == "local" and vol["Mountpoint"].endswith("/volumes/data/_data")
    assert api.docker("volume", "rm", "data").out.strip() == "data"
    err = api.docker("volume", "inspect", "data", check=False)
    assert err.code == 1 and "no such volume" in err.err

    net_id = api.docker("network", "create", "--subnet", "10.231.7.0/24", "apinet").out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", net_id)
    names = api.docker("network", "ls", "--format", "{{.Name}}").out.split()
    assert {"bridge", "host", "none", "apinet"} <= set(names)
    net = json.loads(api.docker("network", "inspect", "apinet").out)[0]
    assert net["IPAM"]["Config"][0]["Subnet"] == "10.231.7.0/24"
    dup = api.docker("network", "create", "apinet", check=False)
    assert dup.code == 1 and "already exists" in dup.err
    assert api.docker("network", "rm", "apinet").out.strip() == "apinet"

    df = api.docker("system", "df").out
    assert re.search(r"^Images\s+1\s+0\s+1\.983MB\s+1\.983MB \(100%\)", df, re.M), df  # busybox, as dockerd counts it
    assert re.search(r"^Local Volumes\s+0", df, re.M)


def test_build_with_context(api, busybox, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello from the context\n")
    (ctx / "Dockerfile").write_text("FROM busybox\nARG WHO=nobody\nCOPY hello.txt /hello.txt\n"
                                    "RUN echo \"built by $WHO\" > /who\nLABEL purpose=test\n")
    res = api.docker("build", "-t", "built:1", "--build-arg", "WHO=api", str(ctx), timeout=120)
    assert "Successfully built" in res.out and "Successfully tagged built:1" in res.out, res.out + res.err
    labels = api.docker("image", "inspect", "-f", "{{json .Config.Labels}}", "built:1").out
    assert json.loads(labels) == {"purpose": "test"}
    quiet = api.docker("build", "-q", "--build-arg", "WHO=api", str(ctx), timeout=120).out.strip()
    assert quiet == api.docker("image", "inspect", "-f", "{{.Id}}", "built:1").out.strip()  # cached, same image
    broken = ctx / "Dockerfile.bad"
    broken.write_text("FROM busybox\nRUN exit 7\n")
    bad = api.docker("build", "-f", str(broken), str(ctx), check=False, timeout=120)
    # as with dockerd, docker exits with the RUN's own status
    assert bad.code == 7 and "The command '/bin/sh -c exit 7' returned a non-zero code: 7" in bad.err, bad.out + bad.err


def test_push_pull_through_the_api(api, busybox, own_registry, dy, tmp_path):  # noqa: F811
    ref = f"{own_registry}/team/bb:1"
    api.docker("tag", "busybox", ref)
    out = api.docker("push", ref).out
    assert f"The push refers to repository [{own_registry}/team/bb]" in out
    digest = re.search(r"1: digest: (sha256:[0-9a-f]{64}) size: \d+", out).group(1)
    api.docker("rmi", ref, "busybox")
    assert api.docker("images", "-q").out.strip() == ""
    out = api.docker("pull", ref).out
    assert f"Digest: {digest}" in out and f"Status: Downloaded newer image for {ref}" in out
    assert api.docker("images", "-q", "--no-trunc").out.strip() == busybox
    assert "Image is up to date" in api.docker("pull", ref).out


def test_events_stream_while_things_happen(api, busybox):
    since = str(time.time() - 1)
    watcher = subprocess.Popen([DOCKER, "events", "--since", since, "--format",
                                "{{.Type}} {{.Action}} {{if eq .Type \"image\"}}{{.Actor.Attributes.name}}{{else}}{{.Actor.ID}}{{end}}", "--filter", "type=volume",
                                "--filter", "type=image"], env=api.env, stdout=subprocess.PIPE, text=True)
    try:
        api.docker("volume", "create", "evvol")
        api.docker("tag", "busybox", "evimg:1")
        api.docker("volume", "rm", "evvol")
        lines = [watcher.stdout.readline().strip() for _ in range(3)]
    finally:
        watcher.terminate()
        watcher.wait(5)
    assert lines == ["volume create evvol", "image tag evimg:1", "volume destroy evvol"]
    # a bounded window replays and ends by itself
    out = api.docker("events", "--since", since, "--until", str(time.time()), "--filter", "event=create",
                     "--format", "{{.Actor.ID}}").out.split()
    assert out == ["evvol"]
