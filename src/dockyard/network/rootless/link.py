"""The rootless netns's way out: pasta (Debian's `passt`), or slirp4netns where pasta is missing.

Either one is a user-space TCP/IP stack on a tap device inside the namespace, with a default
route through it; connections from the namespace leave from the host's own sockets, so they
need no root. pasta is the default: it copies the host's address and routes into the namespace
(containers see the host's addressing, as with podman) and maps its gateway address to the host's
loopback. Both run as the forwarder's children, attached to the pause process (by pid), their
pid kept in the forwarder's directory, and end with the forwarder (stopped by it, or killed by
the kernel when it dies: pasta does not notice a pid's namespace go by itself).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

TUN = "/dev/net/tun"
# the address in the namespace where each link answers DNS with the host's own resolver (one on
# the host's loopback included, which the namespace cannot reach otherwise)
DNS = {"pasta": "169.254.1.1", "slirp4netns": "10.0.2.3"}
READY_TIMEOUT = 30.0
PR_SET_PDEATHSIG = 1
ATTEMPTS = 3      # a link that fails to start is tried this many times in all,
BACKOFF = 0.2     # waiting this long before the second try, twice as long before each next


class LinkError(Exception):
    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.final = final  # a missing program or device: trying again cannot help


@dataclass
class Link:
    driver: str                 # "pasta" or "slirp4netns"
    pid: int
    exit_fd: int | None = None  # slirp4netns: it quits when this pipe's write end closes


def start(pause_pid: int, directory: Path) -> Link:
    """Attach a link to the pause process's network namespace; returns once it is configured.
    A link that fails is tried again (ATTEMPTS in all, with backoff); the last failure is raised."""
    failed = 0
    while True:
        try:
            return _start(pause_pid, directory)
        except LinkError as e:
            failed += 1
            if e.final or failed == ATTEMPTS:
                raise
        time.sleep(BACKOFF * 2 ** (failed - 1))


def _start(pause_pid: int, directory: Path) -> Link:
    if not os.access(TUN, os.R_OK | os.W_OK):
        raise LinkError(f"cannot give the rootless network namespace a way out: {TUN} is not readable and "
                        f"writable by uid {os.getuid()} (udev's default rule makes it 0666: chmod 0666 {TUN})", True)
    if shutil.which("pasta"):
        return _pasta(pause_pid, directory)
    if shutil.which("slirp4netns"):
        return _slirp4netns(pause_pid, directory)
    raise LinkError("rootless networking needs pasta or slirp4netns: install Debian's passt package", True)


def _pasta(pause_pid: int, directory: Path) -> Link:
    """pasta in the foreground as our child (so we reap it, and it dies with us): it writes its
    pid file once the namespace is configured, just before its loop."""
    pidfile = directory / "pasta.pid"
    pidfile.unlink(missing_ok=True)
    # no port forwarding of pasta's own: the forwarder publishes ports
    cmd = ["pasta", "--foreground", "--config-net", "--quiet", "-t", "none", "-u", "none", "-T", "none",
           "-U", "none", "--dns-forward", DNS["pasta"], "-P", str(pidfile), str(pause_pid)]
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             preexec_fn=_die_with_parent)
        deadline = time.monotonic() + READY_TIMEOUT
        while _read_pid(pidfile) != p.pid and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        if _read_pid(pidfile) == p.pid:
            return Link("pasta", p.pid)
        p.kill()
        p.wait()
        err.seek(0)
        lines = [line for line in err.read().decode(errors="replace").splitlines()
                 if line.strip() and not line.startswith("Failed to send")]  # pasta's syslog noise
    pidfile.unlink(missing_ok=True)
    raise LinkError(f"pasta failed to set up the rootless network namespace: "
                    f"{lines[-1] if lines else f'exit status {p.returncode}'}")


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the forwarder ends, however it ends."""
    import ctypes
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _slirp4netns(pause_pid: int, directory: Path) -> Link:
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    os.set_inheritable(exit_w, False)
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(["slirp4netns", "--configure", "--mtu=65520", f"--ready-fd={ready_w}",
                              f"--exit-fd={exit_r}", str(pause_pid), "tap0"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             pass_fds=(ready_w, exit_r), start_new_session=True)
        os.close(ready_w)
        os.close(exit_r)
        with os.fdopen(ready_r, "rb") as ready:
            word = ready.read(1)  # "1" once configured; EOF if it died
        if word != b"1":
            p.wait()
            os.close(exit_w)
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            raise LinkError(f"slirp4netns failed to set up the rootless network namespace: "
                            f"{lines[-1] if lines else f'exit status {p.returncode}'}")
    (directory / "slirp4netns.pid").write_text(f"{p.pid}\n")
    return Link("slirp4netns", p.pid, exit_w)


def stop(link: Link | None) -> None:
    """Stop the link (idempotent) and wait until it is gone."""
    if link is None:
        return
    if link.exit_fd is not None:
        os.close(link.exit_fd)
        link.exit_fd = None
    kill(link.driver, link.pid)
    try:
        os.waitpid(link.pid, 0)  # our child
    except ChildProcessError:
        pass


def kill(driver: str, pid: int) -> None:
    """Stop `pid` if it still is that driver of ours (pids get reused), and wait for it."""
    terminate(pid, lambda: _is(driver, pid))


def terminate(pid: int, alive: Callable[[], bool], timeout: float = 2.0) -> None:
    """SIGTERM `pid` while `alive()` says it is still the process meant, SIGKILL after `timeout`."""
    if not alive():
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    if alive():
        os.kill(pid, signal.SIGKILL)


def _is(driver: str, pid: int) -> bool:
    """Whether `pid` runs `driver` (by its argv[0]: pasta execs passt.avx2 where the CPU has
    AVX2) as our uid, and is no zombie."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return (os.path.basename(argv0) == driver.encode() and fields.get("State", "")[:1] not in ("Z", "X")
            and fields.get("Uid", "").split()[:1] == [str(os.getuid())])


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
