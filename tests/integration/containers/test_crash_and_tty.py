"""Crash safety (a killed CLI, a killed shim) and a real terminal for `run -it`."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time

import pytest

from tests.conftest import DOCKYARD

pytestmark = pytest.mark.root


def mounts_of(dy) -> list[str]:
    return [l for l in open("/proc/self/mountinfo") if str(dy.run_dir) in l]


def test_sigkill_cli_during_run_then_reconcile(dy, busybox):
    proc = dy.popen("run", "--name", "victim", "busybox", "sh", "-c", "echo started; sleep 30",
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline() == "started\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the container is the shim's, not the CLI's: it keeps running
    st = json.loads(dy("inspect", "victim").out)[0]["State"]
    assert st["Running"]
    dy("rm", "-f", "victim")
    assert mounts_of(dy) == []


def test_killed_shim_is_reconciled(dy, busybox):
    dy("run", "-d", "--name", "orphan", "busybox", "sleep", "60")
    eng = dy.engine()
    c = eng.containers.get("orphan")
    shim_pid = int((eng.containers.shim_dir(c.id) / "shim.pid").read_text().split()[0])
    container_pid = c.state["Pid"]
    os.kill(shim_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{shim_pid}/status") \
            and "zombie" not in open(f"/proc/{shim_pid}/status").read():
        time.sleep(0.05)
    line = dy("ps", "-a", "--format", "{{.Names}} {{.Status}}").out.strip()
    assert line.startswith("orphan Exited (137)")
    assert not os.path.exists(f"/proc/{container_pid}") or "zombie" in open(f"/proc/{container_pid}/status").read().lower()
    assert mounts_of(dy) == []
    dy("rm", "orphan")


def _read_until(fd: int, needle: bytes, timeout: float = 10.0) -> bytes:
    """Read the terminal until `needle`, answering busybox's cursor-position query as a terminal does."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            if b"\x1b[6n" in chunk:
                os.write(fd, b"\x1b[1;5R")
            buf += chunk
    return buf


def test_run_it_gives_a_real_pty(dy, busybox):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(dy.env)
        os.execv(DOCKYARD, [DOCKYARD, "run", "-it", "--rm", "--name", "term", "busybox", "sh"])
    try:
        import fcntl
        import struct
        import termios
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        _read_until(fd, b"\x1b[6n")  # the prompt, with its cursor query answered
        time.sleep(0.3)  # ash reads the answer in one 16-byte gulp: type only after it took it
        os.write(fd, b"tty; stty size; echo done-$((6*7))\r")
        out = _read_until(fd, b"done-42")
        assert b"/dev/pts/0" in out, out
        assert b"33 101" in out, out
        os.write(fd, b"sleep 100\r")
        time.sleep(0.5)
        os.write(fd, b"\x03")  # ctrl-c interrupts the foreground sleep inside
        os.write(fd, b"echo after-$((1+1))\r")
        assert b"after-2" in _read_until(fd, b"after-2")
        _read_until(fd, b"\x1b[6n")
        time.sleep(0.3)
        os.write(fd, b"exit 4\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 4
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    assert dy("ps", "-aq").out == ""


def test_exec_it_gives_a_pty(dy, busybox):
    dy("run", "-d", "--name", "host1", "busybox", "sleep", "60")
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(dy.env)
        os.execv(DOCKYARD, [DOCKYARD, "exec", "-it", "host1", "sh"])
    try:
        _read_until(fd, b"\x1b[6n")  # the prompt, with its cursor query answered
        time.sleep(0.3)  # ash reads the answer in one 16-byte gulp: type only after it took it
        os.write(fd, b"tty; echo x-$((2*3))\r")
        out = _read_until(fd, b"x-6")
        assert b"/dev/pts/" in out, out
        _read_until(fd, b"\x1b[6n")
        time.sleep(0.3)
        os.write(fd, b"exit 3\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
