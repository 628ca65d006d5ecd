"""records.shim_alive: the shim's lock on shim.pid answers; without it, the pid and start time
in the file do (a shim older than the lock, or one between writing the file and locking it).
records.running_run: the lock's kind and where it starts say which run runs with no exit."""

from __future__ import annotations

import os
import subprocess
import sys

from dockyard.runtime.shim.records import process_start_time, running_run, shim_alive

HOLD_LOCK = """
import fcntl, sys
f = open(sys.argv[1], "r+")
kind, start = (sys.argv[2], int(sys.argv[3])) if len(sys.argv) > 2 else ("ex", 0)
fcntl.lockf(f, fcntl.LOCK_EX if kind == "ex" else fcntl.LOCK_SH, 0, start)  # a POSIX record lock, as the shim
print("locked", flush=True)
sys.stdin.read()
"""


def hold(pid_file, *how: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(pid_file), *how],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    return holder


def test_a_locked_pid_file_is_a_live_shim_whatever_it_says(tmp_path):
    (tmp_path / "shim.pid").write_text("1 -1\n")  # pid 1 with a start time no process has
    holder = hold(tmp_path / "shim.pid")
    try:
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


def test_a_write_lock_from_byte_k_plus_1_is_run_k_running(tmp_path):
    (tmp_path / "shim.pid").write_text("1 -1\n")
    for how, run in ((("ex", "1"), 0), (("ex", "4"), 3), (("sh", "4"), None), (("sh", "0"), None)):
        holder = hold(tmp_path / "shim.pid", *how)
        try:
            assert running_run(str(tmp_path)) == run, how
            assert shim_alive(str(tmp_path))
        finally:
            holder.kill()
            holder.wait()
    assert running_run(str(tmp_path)) is None  # no lock: a shim older than it, or none
    (tmp_path / "shim.pid").unlink()
    assert running_run(str(tmp_path)) is None
