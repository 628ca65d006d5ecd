"""The environment and groups of a container's process and its execs through the dockyard CLI."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_run_and_exec_environment_and_groups(dy, busybox):
    out = dy("run", "--rm", "--network", "none", "-h", "box", "-u", "nobody", "--group-add", "mail",
             "busybox", "sh", "-c", "env; id").out.splitlines()
    assert out[-1] == "uid=65534(nobody) gid=65534(nogroup) groups=12(mail),65534(nogroup)"
    assert {DEFAULT_PATH, "HOSTNAME=box", "HOME=/home"} == {line for line in out if line.split("=")[0] in
                                                           ("PATH", "HOSTNAME", "HOME", "TERM")}
    dy("run", "-d", "--name", "ex", "--network", "none", "--group-add", "777", "busybox", "sleep", "60")
    hostname = dy("inspect", "-f", "{{.Config.Hostname}}", "ex").out.strip()
    assert dy("exec", "ex", "env").out.splitlines() == [DEFAULT_PATH, f"HOSTNAME={hostname}", "HOME=/root"]
    assert dy("exec", "-u", "operator", "ex", "id").out.strip() == \
        "uid=37(operator) gid=37(operator) groups=37(operator),777"
    r = dy("exec", "-u", "ghost", "ex", "true", check=False)
    assert r.code != 0 and "unable to find user ghost" in r.err

