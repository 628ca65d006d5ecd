"""`wait` answers once no process is recording the container's exit or removal: a finalize
or a remove holds the container's lifecycle lock until its event (die, destroy) is written,
and a wait that finds the container ended takes that lock before it answers."""

from __future__ import annotations

import fcntl
import os
import subprocess

import pytest

from dockyard import locations

pytestmark = pytest.mark.root


def test_wait_on_an_ended_container_answers_once_its_exit_is_recorded(dy, busybox):
    cid = dy("run", "-d", "busybox", "sh", "-c", "exit 7").out.strip()
    assert dy("wait", cid).out.strip() == "7"
    fd = os.open(os.path.join(locations.container_dir(dy.root, cid), "lifecycle.lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as another process's finalize or remove, under way, holds it
        waiting = dy.popen("wait", cid, stdout=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=1)  # a wait that did not take the lock would have answered by now
    finally:
        os.close(fd)
    assert waiting.communicate(timeout=60)[0].strip() == "7"
