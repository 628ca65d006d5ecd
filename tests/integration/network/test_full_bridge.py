"""A Linux bridge holds 1,023 ports (BR_MAX_PORTS less port 0): the 1,024th container on one network is
refused in one line that says so (Docker's docker0 meets the same limit), not with the
kernel's "Exchange full"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root


@pytest.fixture
def netns():
    name = f"dyt-full-{os.urandom(3).hex()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=True)  # its links go with it


def test_the_1024th_port_of_a_bridge_is_refused_in_one_line(netns):
    from dockyard.network.bridge import BRIDGE_PORTS
    batch = ["link add br0 type bridge", *(f"link add p{i} type veth peer name q{i}\nlink set p{i} master br0"
                                          for i in range(BRIDGE_PORTS)), "link add extra type veth peer name extra-peer"]
    subprocess.run(["ip", "-n", netns, "-batch", "-"], input="\n".join(batch), text=True, check=True)
    code = ("from dockyard.network.bridge import _enslave\n"
            "from dockyard.errors import Conflict\n"
            "try:\n    _enslave('extra', 'br0', 'dockyard:test')\n"
            "except Conflict as e:\n    print(e.message)\n")
    out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout == ("cannot attach extra to bridge br0: it has 1023 ports, the most a Linux bridge holds: "
                          "put further containers on another network\n"), out.stderr
