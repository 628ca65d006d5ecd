"""What a shim records in its state dir, read without the rest of the protocol (sockets,
processes, cgroups): the read-only commands (cli/readonly.py) and the API's watch load only this."""

from __future__ import annotations

import fcntl
import os
import sys

from dockyard.jsonread import loads


def state_dir(run_dir, cid: str) -> str:
    """A container's shim state dir under the engine's run dir. Kept short (a prefix of the ID)
    because it holds unix sockets, whose paths the kernel limits to 107 bytes."""
    return os.path.join(run_dir, "s", cid[:16])


def _read_json(path: str) -> dict | None:
    """The document at `path`, None if there is none: read with os calls (no buffered file
    object, no isatty probe), as `ps` reads two of these per running container."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        chunks = [os.read(fd, 65536)]
        while chunks[-1]:
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return loads(b"".join(chunks))


def read_exit(state_dir: str) -> dict | None:
    """{"exit_code", "oom_killed", "finished_at", "restart_count", "final"[, "error"]} once
    the container has exited (and until a restart); None before. `final`: the restart policy
    will not run it again (missing in the records of shims older than that field)."""
    return _read_json(os.path.join(state_dir, "exit.json"))


def read_started(state_dir: str) -> dict | None:
    """{"pid", "started_at", "restart_count", "last_exit_code"} of the latest start (the code
    is the previous run's, when the restart policy started this one), None if never started."""
    return _read_json(os.path.join(state_dir, "started.json"))


# struct flock (64-bit Linux: l_type, l_whence, padding, l_start, l_len, l_pid) asking for a
# write lock on the whole file: l_type, then zeros (SEEK_SET, start 0, length 0 = to the end);
# built by hand, `struct` is an import `ps` does not need
_HOLDER = fcntl.F_WRLCK.to_bytes(2, sys.byteorder) + bytes(30)


def running_run(state_dir: str) -> int | None:
    """The restart count of the run that the shim's lock on shim.pid says is running with no
    exit recorded (a write lock from byte count + 1 on: what started.json and exit.json would
    say), or None: a read lock (starting, exited, restarting), no lock (a shim older than
    the lock, or none), no file. One F_GETLK where `ps` would open two files."""
    try:
        fd = os.open(os.path.join(state_dir, "shim.pid"), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        lock = fcntl.fcntl(fd, fcntl.F_GETLK, _HOLDER)
    finally:
        os.close(fd)
    if int.from_bytes(lock[:2], sys.byteorder) != fcntl.F_WRLCK:
        return None
    return int.from_bytes(lock[8:16], sys.byteorder, signed=True) - 1  # l_start, after two shorts and padding


def shim_alive(state_dir: str) -> bool:
    """Whether the shim that wrote state_dir/shim.pid still runs (not a recycled pid).

    The shim holds a record lock on shim.pid for its life, which the kernel drops when it
    ends, however it ends: one F_GETLK answers without reading /proc (at 1,000 containers
    `ps` asks this of each). Unlocked, the file's pid and start time decide (a shim older
    than the lock, or one that has just written the file and not yet locked it)."""
    try:
        fd = os.open(os.path.join(state_dir, "shim.pid"), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if int.from_bytes(fcntl.fcntl(fd, fcntl.F_GETLK, _HOLDER)[:2], sys.byteorder) != fcntl.F_UNLCK:
            return True
        pid, start_time = (int(v) for v in os.read(fd, 64).split())
    except ValueError:
        return False
    finally:
        os.close(fd)
    return process_start_time(pid) == start_time


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, or None if it is gone or a zombie.

    Stored with a container's pid so a recycled pid is never mistaken for the container.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])
