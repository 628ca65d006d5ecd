"""records.shim_alive: the shim's lock on shim.pid answers; without it, the pid and start time
in the file do (a shim older than the lock, or one between writing the file and locking it)."""

from __future__ import annotations

import os
import subprocess
import sys

from dockyard.runtime.shim.records import process_start_time, shim_alive

HOLD_LOCK = """
import fcntl, sys
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)  # a POSIX record lock, as dockyard-shim takes it
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_locked_pid_file_is_a_live_shim_whatever_it_says(tmp_path):
    (tmp_path / "shim.pid").write_text("1 -1\n")  # pid 1 with a start time no process has
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "shim.pid")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        assert shim_alive(str(tmp_path))
    finally:
        holder.kill()
        holder.wait()
    assert not shim_alive(str(tmp_path))  # the lock went with the process; the file's pid is not it


def test_an_unlocked_pid_file_is_checked_by_start_time(tmp_path):
    pid_file = tmp_path / "shim.pid"
    assert not shim_alive(str(tmp_path))  # none
    pid_file.write_text(f"{os.getpid()} {process_start_time(os.getpid())}\n")
    assert shim_alive(str(tmp_path))
    pid_file.write_text(f"{os.getpid()} {process_start_time(os.getpid()) + 1}\n")  # the pid went to another process
    assert not shim_alive(str(tmp_path))
    pid_file.write_text("garbage\n")
    assert not shim_alive(str(tmp_path))
