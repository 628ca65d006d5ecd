"""Runtime, MAC address and commit parent through the dockyard CLI."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.root


def test_runtime_mac_and_parent(dy, busybox):
    mac = "02:42:ac:11:00:96"
    dy("run", "-d", "--name", "mac", "--mac-address", mac, "busybox", "sleep", "60")
    assert f"link/ether {mac} " in dy("exec", "mac", "ip", "link", "show", "eth0").out
    info = json.loads(dy("inspect", "mac").out)[0]
    assert info["HostConfig"]["Runtime"] == "dockyard" and info["NetworkSettings"]["MacAddress"] == mac
    dy("exec", "mac", "touch", "/made")
    new = dy("commit", "mac").out.strip()
    assert json.loads(dy("image", "inspect", new).out)[0]["Parent"] == busybox
