"""The container service's side of dockyard-shim (see README.md here for the protocol).

The shim is a small C program, one per running container; everything the engine knows
about a running container comes from the shim's state directory: files it writes
(shim.pid, started.json, exit.json) and the sockets it serves (attach.sock, ctl.sock).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from typing import BinaryIO

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.plainclass import Factory, plainclass
from dockyard.runtime import cgroups
from dockyard.runtime.shim.records import read_exit, read_started, shim_alive  # noqa: F401 (the protocol's API)

STDOUT, STDERR = 1, 2
_START_TIMEOUT = 120  # create + start of a big image through a slow runtime


@plainclass
class ShimArgs:
    """One container's shim: what to run, where its state and log go, how to restart."""

    container_id: str
    bundle: str
    state_dir: str
    runtime: str  # path (or name on PATH) of an OCI runtime with runc's command line
    log_path: str
    runtime_root: str = ""
    log_format: str = "json-file"  # or k8s-file: the CRI's `TIME STREAM F|P LINE`
    log_max_size: int = 0  # bytes, 0: unlimited
    log_max_files: int = 1
    tty: bool = False
    stdin: bool = False
    wait_attach: bool = False  # hold the start until a client attached (`run` without -d)
    keep_after_exit: bool = False  # the engine deletes the runtime's container after the last exit
    restart: str = "no"  # no | always | unless-stopped | on-failure[:N]
    oom_file: str = ""  # see oom_file()
    foreground_lock: str = ""  # no exit hook while a client holds a lock on this file
    hook_socket: str = ""  # a server that runs the hooks in-process while it listens (containers/hooks.py)
    on_exit: list[str] = Factory(list)  # argv run once the container is done
    health: str = ""  # the probe's config (containers/health.py writes it): probe the container
    on_health: list[str] = Factory(list)  # argv told each new health status

    def argv(self, binary: str | None = None) -> list[str]:
        runtime = self.runtime if os.path.isabs(self.runtime) else shutil.which(self.runtime)
        if not runtime:
            raise DockyardError(f"OCI runtime {self.runtime} not found")
        argv = [binary or find_shim_binary(), "--id", self.container_id,
                "--bundle", os.path.abspath(self.bundle),
                "--state-dir", os.path.abspath(self.state_dir), "--runtime", runtime,
                "--log-path", os.path.abspath(self.log_path), "--log-format", self.log_format,
                "--log-max-size", str(self.log_max_size),
                "--log-max-files", str(self.log_max_files), "--restart", self.restart]
        if self.runtime_root:
            argv += ["--runtime-root", os.path.abspath(self.runtime_root)]
        if self.oom_file:
            argv += ["--oom-file", self.oom_file]
        if self.foreground_lock:
            argv += ["--foreground-lock", os.path.abspath(self.foreground_lock)]
        if self.hook_socket:
            argv += ["--hook-socket", os.path.abspath(self.hook_socket)]
        argv += [flag for flag, on in (("--tty", self.tty), ("--stdin", self.stdin),
                                       ("--wait-attach", self.wait_attach),
                                       ("--keep-after-exit", self.keep_after_exit)) if on]
        for arg in self.on_exit:
            argv += ["--on-exit-arg", arg]
        if self.health:
            argv += ["--health", os.path.abspath(self.health)]
        for arg in self.on_health:
            argv += ["--on-health-arg", arg]
        return argv


def find_shim_binary() -> str:
    """dockyard-shim next to this interpreter (the venv's bin), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "dockyard-shim")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("dockyard-shim")
    if not found:
        raise DockyardError("dockyard-shim not found: run `make setup`")
    return found


def oom_file(cgroups_path: str) -> str:
    """The file of the container's cgroup that counts OOM kills (v1 memory.oom_control or
    v2 memory.events), for ShimArgs.oom_file; "" without a memory controller."""
    cg = cgroups.open_cgroup(cgroups_path)
    if isinstance(cg, cgroups.CgroupV2):
        return str(cg.directory / "memory.events")
    directory = cg.dir("memory")
    return str(directory / "memory.oom_control") if directory else ""


def _failure(stderr: str) -> DockyardError:
    lines = stderr.strip().splitlines()
    return DockyardError(lines[-1] if lines else "dockyard-shim failed without a message")


def start_shim(argv: list[str]) -> int:
    """Run the shim; once the container runs, returns its pid (the shim stays behind)."""
    import subprocess
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=_START_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise _failure(proc.stderr)
    return int(proc.stdout)


def start_shim_attached(argv: list[str], state_dir: str) -> tuple[int, socket.socket]:
    """Run a --wait-attach shim and attach before its container starts, so no output is
    missed; returns the container's pid and the attach socket."""
    import subprocess
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sock = None
    deadline = time.monotonic() + 10
    try:
        while sock is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                sock = attach(state_dir)
            except DockyardError:
                time.sleep(0.005)  # the shim has not bound attach.sock yet
        out, err = proc.communicate(timeout=_START_TIMEOUT)
    except BaseException:
        proc.kill()
        proc.wait()
        if sock:
            sock.close()
        raise
    if proc.returncode != 0:
        if sock:
            sock.close()
        raise _failure(err)
    if sock is None:
        raise DockyardError("could not attach to the container's shim")
    return int(out), sock


def control(state_dir: str, command: str, timeout: float = 10) -> str:
    """Send one ctl.sock command ("resize R C", "stop", "kill N", "status", "reopen-log"); returns the
    reply line, raises DockyardError for an error reply or when the shim is gone."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.path.join(state_dir, "ctl.sock"))
            sock.sendall(command.encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except OSError as err:
            raise DockyardError(f"container shim is not reachable: {err.strerror or err}")
    text = reply.decode(errors="replace").strip()
    if not text or text.startswith("error"):
        raise DockyardError(text[6:] or "container shim gave no reply")
    return text


def status(state_dir: str) -> dict:
    """{"pid", "restart_count", "started_at"}; pid is 0 between runs."""
    return json.loads(control(state_dir, "status"))


def resize(state_dir: str, rows: int, cols: int) -> None:
    control(state_dir, f"resize {rows} {cols}")


def kill(state_dir: str, sig: str | int) -> None:
    """Signal the container's init: 9, "KILL" or "SIGKILL"."""
    control(state_dir, f"kill {_signal_number(sig)}")


def _signal_number(sig: str | int) -> int:
    text = str(sig).upper()
    if text.isdigit():
        return int(text)
    try:
        return int(signal.Signals[text if text.startswith("SIG") else "SIG" + text])
    except KeyError:
        raise InvalidArgument(f"unknown signal {sig!r}")


def attach(state_dir: str) -> socket.socket:
    """A connection to the container's output (stdcopy frames, or raw for a TTY) and, with
    --stdin, its input. shutdown(SHUT_WR) ends the input; close() just detaches."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(os.path.join(state_dir, "attach.sock"))
    except OSError as err:
        sock.close()
        raise DockyardError(f"cannot attach: container shim is not reachable ({err.strerror})")
    return sock


def _read_exact(stream: socket.socket | BinaryIO, n: int) -> bytes:
    """n bytes, or fewer only at the end of the stream."""
    data = b""
    while len(data) < n:
        chunk = stream.recv(n - len(data)) if isinstance(stream, socket.socket) \
            else stream.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def demux(stream: socket.socket | BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(stream, payload) for each stdcopy frame until the end (1 stdout, 2 stderr)."""
    while True:
        header = _read_exact(stream, 8)
        if not header:
            return
        size = int.from_bytes(header[4:], "big")
        payload = _read_exact(stream, size)
        if len(header) < 8 or len(payload) < size:
            raise DockyardError("attach stream ended inside a frame")
        yield header[0], payload
