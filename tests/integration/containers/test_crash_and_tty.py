"""Crash safety (a killed CLI, a killed shim) and a real terminal for `run -it`."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from contextlib import contextmanager

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


def test_sigkill_cli_during_run_rm_then_the_hook_removes_it(dy, busybox):
    """The foreground CLI's claim on the exit dies with it: the shim's hook honours --rm."""
    proc = dy.popen("run", "--rm", "--name", "gone", "busybox", "sh", "-c", "echo started; sleep 1",
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline() == "started\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while dy("ps", "-aq").out and time.monotonic() < deadline:
        time.sleep(0.1)
    assert dy("ps", "-aq").out == ""
    assert mounts_of(dy) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_run_makes_the_container_reaches_it(dy, busybox, signum):
    """A foreground run signalled as soon as its container exists (while it is being made
    and started): the container is finished and started anyway, as a daemon would, and
    the signal proxied to it once it runs (where pid 1 without a handler ignores it);
    nothing is left half made. It was: the CLI died, its container stayed created with
    its rootfs mounted."""
    containers = dy.root / "containers"
    proc = dy.popen("run", "--rm", "busybox", "sh", "-c", "echo started; sleep 1",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (containers.is_dir() and os.listdir(containers)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.002)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, "started\n"), err
    assert dy("ps", "-aq").out == ""
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


@contextmanager
def terminal(dy, *args: str):
    """The dockyard CLI on a fresh pty (as a user's terminal); killed if the test fails midway."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(dy.env)
        os.execv(DOCKYARD, [DOCKYARD, *args])
    try:
        yield pid, fd
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def type_at_prompt(fd: int, line: bytes) -> None:
    """Wait for ash's prompt (answering its cursor query), then type a line."""
    _read_until(fd, b"\x1b[6n")
    time.sleep(0.3)  # ash reads the answer in one 16-byte gulp: type only after it took it
    os.write(fd, line)


def exit_code(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_run_it_gives_a_real_pty(dy, busybox):
    with terminal(dy, "run", "-it", "--rm", "--name", "term", "busybox", "sh") as (pid, fd):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        type_at_prompt(fd, b"tty; stty size; echo done-$((6*7))\r")
        out = _read_until(fd, b"done-42")
        assert b"/dev/pts/0" in out, out
        assert b"33 101" in out, out
        os.write(fd, b"sleep 100\r")
        time.sleep(0.5)
        os.write(fd, b"\x03")  # ctrl-c interrupts the foreground sleep inside
        os.write(fd, b"echo after-$((1+1))\r")
        assert b"after-2" in _read_until(fd, b"after-2")
        type_at_prompt(fd, b"exit 4\r")
        assert exit_code(pid) == 4
    assert dy("ps", "-aq").out == ""


def test_exec_it_gives_a_pty(dy, busybox):
    dy("run", "-d", "--name", "host1", "busybox", "sleep", "60")
    with terminal(dy, "exec", "-it", "host1", "sh") as (pid, fd):
        type_at_prompt(fd, b"tty; echo x-$((2*3))\r")
        out = _read_until(fd, b"x-6")
        assert b"/dev/pts/" in out, out
        type_at_prompt(fd, b"exit 3\r")
        assert exit_code(pid) == 3
