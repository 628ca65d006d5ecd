"""A container's exec profile: what every command run inside one start of it shares (its
process's capabilities, rlimits, no_new_privs and labels, its cgroups, its compiled seccomp
filter), as the lines `dockyard-shim exec` reads (runtime/shim/entering.py).

`exec`'s quick path (cli/execquick.py) writes it the first time it runs a command in a start,
and reads it from then on: config.json, the cgroup hierarchy and the seccomp cache are read
once per start instead of once per exec, and `run` pays nothing for it. It lives in the shim's
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
    from dockyard.runtime import cgroups, checks
    from dockyard.runtime.shim import entering

    with open(os.path.join(container_run_dir(run_dir, cid), "config.json")) as f:
        spec = json.load(f)
    process = spec["process"]
    checks.check_process(process)
    linux = spec.get("linux") or {}
    dirs = [str(d) for d in dict.fromkeys(cgroups.open_cgroup(linux["cgroupsPath"]).dirs().values())] \
        if linux.get("cgroupsPath") else []
    seccomp_path = None
    if linux.get("seccomp"):
        from dockyard.runtime.builtin import SECCOMP_CACHE
        from dockyard.runtime.seccomp import cached_program

        program = cached_program(linux["seccomp"], os.path.join(run_dir, "runtime", "dockyard", SECCOMP_CACHE))
        seccomp_path = os.path.join(os.path.dirname(path), SECCOMP_FILE)
        _write_atomic(seccomp_path, program)
    _write_atomic(path, entering.file_text(entering.container_lines(process, dirs, seccomp_path)).encode())


def _write_atomic(path: str, data: bytes) -> None:
    """Whole or not at all: two first execs at once each write their own and one wins."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
