"""Inspect fields clients read: HostConfig.Runtime (never empty), the MAC address a container
was given (Config.MacAddress or its endpoint's), and the Parent of a locally committed image."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_runtime_is_shown(api, busybox):
    api.docker("create", "--name", "plain", "busybox", "true")
    api.docker("create", "--name", "viarunc", "--runtime", "runc", "busybox", "true")
    assert api.docker("inspect", "-f", "{{.HostConfig.Runtime}}", "plain").out.strip() == "dockyard"
    assert api.docker("inspect", "-f", "{{.HostConfig.Runtime}}", "viarunc").out.strip() == "runc"
    assert api.client().containers.get("plain").attrs["HostConfig"]["Runtime"] == "dockyard"


def test_mac_address_from_the_cli_and_docker_py(api, busybox):
    mac = "02:42:ac:11:00:99"
    api.docker("run", "-d", "--name", "m1", "--mac-address", mac, "busybox", "sleep", "60")
    assert f"link/ether {mac} " in api.docker("exec", "m1", "ip", "link", "show", "eth0").out
    shown = api.docker("inspect", "-f", "{{.NetworkSettings.MacAddress}} {{.NetworkSettings.Networks.bridge.MacAddress}}",
                       "m1").out.split()
    assert shown == [mac, mac]
    api.docker("network", "create", "macnet")
    api.docker("run", "-d", "--name", "m2", "--network", "macnet", "--mac-address", "02:42:ac:11:00:98",
               "busybox", "sleep", "60")
    assert "link/ether 02:42:ac:11:00:98 " in api.docker("exec", "m2", "ip", "link", "show", "eth0").out
    assert api.docker("inspect", "-f", "{{.NetworkSettings.Networks.macnet.MacAddress}}", "m2").out.strip() == \
        "02:42:ac:11:00:98"
    api.docker("rm", "-f", "m2")
    client = api.client()
    low = client.api
    cid = low.create_container("busybox", "sleep 60", mac_address="02:42:ac:11:00:97")["Id"]
    low.start(cid)
    c = client.containers.get(cid)
    assert c.attrs["Config"]["MacAddress"] == "02:42:ac:11:00:97"
    assert c.attrs["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == "02:42:ac:11:00:97"
    assert b"link/ether 02:42:ac:11:00:97 " in c.exec_run("ip link show eth0").output


def test_commit_records_the_parent(api, busybox):
    api.docker("run", "--name", "src", "busybox", "touch", "/made")
    new = api.docker("commit", "src", "made:1").out.strip()
    assert api.docker("image", "inspect", "-f", "{{.Parent}}", "made:1").out.strip() == busybox
    client = api.client()
    assert client.images.get(new).attrs["Parent"] == busybox
    assert client.images.get("busybox").attrs["Parent"] == ""
    assert {i["Id"]: i["ParentId"] for i in client.api.images()}[new] == busybox
