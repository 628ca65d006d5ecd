"""tests/helpers/servers.py: a server whose start is interrupted does not outlive the test run
(an interrupted `dockyard serve` fixture once left the server and its fork server running)."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.helpers.servers import first_line


class Interrupted(BaseException):
    pass


def test_an_interrupted_start_kills_and_reaps_the_server():
    proc = subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE)  # never prints its first line

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(Interrupted):
            first_line(proc, proc.stdout)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL  # killed and reaped


def test_the_first_line_as_text_from_either_kind_of_pipe():
    for text in (False, True):
        proc = subprocess.Popen(["echo", "listening on http://127.0.0.1:1"], stdout=subprocess.PIPE, text=text)
        assert first_line(proc, proc.stdout) == "listening on http://127.0.0.1:1\n"
        proc.wait()
        proc.stdout.close()
