"""`exec` of a command that cannot start, through the dockyard CLI: Docker's codes and words."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_exec_of_a_command_that_cannot_start(dy, busybox):
    dy("run", "-d", "--name", "ex", "--network", "none", "busybox", "sleep", "60")
    r = dy("exec", "ex", "nope", check=False)
    assert r.code == 127 and r.err == ('OCI runtime exec failed: exec failed: unable to start container process: '
                                       'exec: "nope": executable file not found in $PATH: unknown\n')
    assert dy("exec", "ex", "/etc", check=False).code == 126
