"""A container's exec profile: what every command run inside one start of it shares (its
process's capabilities, rlimits, no_new_privs and labels, its cgroups, its compiled seccomp
filter), as the lines `dockyard-shim exec` reads (runtime/shim/entering.py).

The first exec of a start writes it (containers/shimexec.py), and every later one reads it:
config.json, the cgroup hierarchy and the seccomp cache are read once per start instead of
once per exec, and `run` pays nothing for it. It lives in the shim's
state dir, which each start makes afresh, so a profile found there is always this start's.
"""

from __future__ import annotations

import os

PROFILE_FILE, SECCOMP_FILE = "exec.conf", "exec.bpf"


def profile(run_dir: str, cid: str) -> str:
    """The path of the running container `cid`'s exec profile, written first if this start
    has none yet."""
    from dockyard.runtime.shim.records import state_dir

    path = os.path.join(state_dir(run_dir, cid), PROFILE_FILE)
    if not os.path.exists(path):
        _write(run_dir, cid, path)
    return path


def _write(run_dir: str, cid: str, path: str) -> None:
    """The profile from the container's config.json, as the runtime applies it to an exec:
    its process (checked as BuiltinRuntime.exec_process checks it), cgroup and seccomp."""
    import json

    from dockyard.locations import container_run_dir
    from dockyard.runtime import checks
    from dockyard.runtime.shim import entering

    with open(os.path.join(container_run_dir(run_dir, cid), "config.json")) as f:
        spec = json.load(f)
    process = spec["process"]
    checks.check_process(process)
    program, seccomp_path = seccomp_program(run_dir, spec), None
    if program is not None:
        seccomp_path = os.path.join(os.path.dirname(path), SECCOMP_FILE)
        _write_atomic(seccomp_path, program)
    _write_atomic(path, entering.file_text(entering.container_lines(process, cgroup_dirs(spec), seccomp_path)).encode())


def cgroup_dirs(spec: dict) -> list[str]:
    """The directories of a container's cgroup (one per v1 hierarchy), which a command run in
    it joins (an exec, a health probe)."""
    from dockyard.runtime import cgroups

    path = (spec.get("linux") or {}).get("cgroupsPath")
    return [str(d) for d in dict.fromkeys(cgroups.open_cgroup(path).dirs().values())] if path else []


def seccomp_program(run_dir, spec: dict) -> bytes | None:
    """A container's seccomp filter as BPF (compiled once per profile, into dockyard's runtime's
    cache), None without one."""
    profile = (spec.get("linux") or {}).get("seccomp")
    if not profile:
        return None
    from dockyard.runtime.builtin import SECCOMP_CACHE
    from dockyard.runtime.seccomp import cached_program

    return cached_program(profile, os.path.join(run_dir, "runtime", "dockyard", SECCOMP_CACHE))


def _write_atomic(path: str, data: bytes) -> None:
    """Whole or not at all: two first execs at once each write their own and one wins."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
