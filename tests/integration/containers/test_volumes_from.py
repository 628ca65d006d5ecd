"""--volumes-from and --volume-driver through the dockyard CLI."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_volumes_from_and_volume_driver(dy, busybox):
    dy("run", "--name", "src", "--network", "none", "-v", "/data", "busybox", "sh", "-c", "echo d > /data/f")
    assert dy("run", "--rm", "--network", "none", "--volumes-from", "src", "busybox", "cat", "/data/f").out == "d\n"
    r = dy("run", "--rm", "--network", "none", "--volumes-from", "src:ro", "busybox", "touch", "/data/g", check=False)
    assert r.code == 1 and "Read-only file system" in r.err
    r = dy("run", "--rm", "--volume-driver", "flocker", "-v", "/x", "busybox", "true", check=False)
    assert r.code == 125 and 'plugin "flocker" not found' in r.err
