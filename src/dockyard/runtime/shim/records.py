"""What a shim records in its state dir, read without the rest of the protocol (sockets,
processes, cgroups): the read-only commands (cli/readonly.py) and the API's watch load only this."""

from __future__ import annotations

import os

from dockyard.jsonread import load_file


def state_dir(run_dir, cid: str) -> str:
    """A container's shim state dir under the engine's run dir. Kept short (a prefix of the ID)
    because it holds unix sockets, whose paths the kernel limits to 107 bytes."""
    return os.path.join(run_dir, "s", cid[:16])


def _read_json(path: str) -> dict | None:
    try:
        return load_file(path)
    except FileNotFoundError:
        return None


def read_exit(state_dir: str) -> dict | None:
    """{"exit_code", "oom_killed", "finished_at", "restart_count", "final"[, "error"]} once
    the container has exited (and until a restart); None before. `final`: the restart policy
    will not run it again (missing in the records of shims older than that field)."""
    return _read_json(os.path.join(state_dir, "exit.json"))


def read_started(state_dir: str) -> dict | None:
    """{"pid", "started_at", "restart_count", "last_exit_code"} of the latest start (the code
    is the previous run's, when the restart policy started this one), None if never started."""
    return _read_json(os.path.join(state_dir, "started.json"))


def shim_pid(state_dir: str) -> int | None:
    """The pid of the shim that wrote state_dir/shim.pid if it still runs (not a recycled pid)."""
    try:
        with open(os.path.join(state_dir, "shim.pid")) as f:
            pid, start_time = (int(v) for v in f.read().split())
    except (FileNotFoundError, ValueError):
        return None
    return pid if process_start_time(pid) == start_time else None


def shim_alive(state_dir: str) -> bool:
    """Whether the shim that wrote state_dir/shim.pid still runs (not a recycled pid)."""
    return shim_pid(state_dir) is not None


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
