"""Legacy links through the dockyard CLI (`run --link`), on the default bridge."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_cli_link_on_the_default_bridge(dy, busybox):
    dy("run", "-d", "--name", "base", "-e", "K=v", "busybox", "sleep", "300")
    out = dy("run", "--rm", "--name", "user", "--link", "base:b", "busybox", "sh", "-c",
             "echo $B_NAME $B_ENV_K; ping -c1 -W5 b >/dev/null && echo up").out
    assert out.split() == ["/user/b", "v", "up"]
