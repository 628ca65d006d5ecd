"""Starting a test's server process: its first line says it listens."""

from __future__ import annotations

import subprocess


def first_line(proc: subprocess.Popen, stream) -> str:
    """The first line the just-started `proc` writes to `stream` (its stdout or stderr). If that
    read is interrupted (Ctrl-C, a timeout), the server is killed and reaped: the fixture that
    started it never reached its teardown, so nobody else would end it."""
    try:
        line = stream.readline()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return line.decode() if isinstance(line, bytes) else line
