"""--log-driver local and none through the dockyard CLI."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_local_none_and_unknown(dy, busybox):
    dy("run", "--name", "loc", "--network", "none", "--log-driver", "local", "busybox", "echo", "kept")
    assert dy("logs", "loc").out == "kept\n"
    dy("run", "--name", "quiet", "--network", "none", "--log-driver", "none", "busybox", "echo", "gone")
    r = dy("logs", "quiet", check=False)
    assert r.code != 0 and "configured logging driver does not support reading" in r.err
    assert all("gone" not in p.read_text() for p in dy.root.glob("containers/*/*-json.log*"))
    r = dy("run", "--rm", "--log-driver", "nosuch", "busybox", "true", check=False)
    assert r.code == 125 and "logger: no log driver named 'nosuch' is registered" in r.err
