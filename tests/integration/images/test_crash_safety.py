"""SIGKILL in the middle of load or bootstrap: no half image listed, and `system check` says clean."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.helpers.archives import classic_docker_archive
from tests.helpers.layertars import TarBuilder

pytestmark = pytest.mark.root


def wait_for_scratch(dy, proc, timeout=20.0) -> bool:
    """True once the process has something half-written on disk (an ingest file or a layer being unpacked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for d in (dy.root / "ingest", dy.root / "snapshots"):
            if d.is_dir() and any(e.name.startswith("tmp-") for e in os.scandir(d)):
                return True
        time.sleep(0.005)
    return False


def assert_clean_after_kill(dy, images_before: list[str]):
    assert dy("images", "-q", "--no-trunc").out.split() == images_before
    r = dy("system", "check")
    assert "store is clean" in r.out and "problem" not in r.out
    dy("system", "check", "--repair")
    assert not [e for e in os.scandir(dy.root / "ingest")]


def test_sigkill_during_load(dy, busybox, tmp_path):
    big = os.urandom(48 << 20)
    layers = [TarBuilder().file(f"data{i}.bin", big[i << 20:(i + 16) << 20]).bytes() for i in (0, 16, 32)]
    (tmp_path / "big.tar").write_bytes(classic_docker_archive(layers, ["big:1"]))
    before = dy("images", "-q", "--no-trunc").out.split()
    proc = dy.popen("load", "-i", str(tmp_path / "big.tar"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    caught = wait_for_scratch(dy, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert caught, "load finished before it could be interrupted"
    assert_clean_after_kill(dy, before)
    # and the same archive loads fine afterwards
    assert "Loaded image: big:1" in dy("load", "-i", str(tmp_path / "big.tar")).out


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.3])
def test_sigkill_during_bootstrap(dy, delay):
    proc = dy.popen("image", "bootstrap", "busybox", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if delay:
        time.sleep(delay)
    else:
        wait_for_scratch(dy, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    listed = dy("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
    assert listed in ([], ["busybox:latest"])  # either not there at all, or whole
    r = dy("system", "check")
    assert "store is clean" in r.out
    if listed:
        assert dy("image", "inspect", "-f", "{{.Config.Cmd}}", "busybox").out.strip() == "[sh]"
