"""The OCI process of a command run beside a running container's own (`exec`, health checks),
built as Docker builds it: the container's environment under the command's own, HOSTNAME,
TERM with a terminal, HOME and groups of the user it runs as, the container's working dir.
Light (no service, no pathlib): `exec`'s quick path (cli/execquick.py) builds it too.
"""

from __future__ import annotations

import os

from dockyard.locations import container_run_dir


def exec_process(service, c, request: dict) -> dict:
    """command_process with the service's run dir."""
    return command_process(str(service.engine.run_dir), c, request)


def command_process(run_dir: str, c, request: dict) -> dict:
    """The process for `request` (Docker's ExecConfig: Cmd, Env, WorkingDir, User, Tty,
    ConsoleSize, Privileged) in the running container `c` of the engine whose run dir is `run_dir`;
    unset fields come from its config.json."""
    from dockyard.runtime.identity import lookup_user, process_env
    tty = bool(request.get("Tty"))
    rootfs = os.path.join(container_run_dir(run_dir, c.id), "rootfs")  # its /etc/passwd as it is now
    user, home = lookup_user(request.get("User") or c.config.get("User") or "", rootfs,
                             c.host_config.get("GroupAdd") or [])
    proc = {"args": list(request["Cmd"]), "terminal": tty, "user": user,
            "env": process_env([*(c.config.get("Env") or []), *(request.get("Env") or [])],
                               c.config.get("Hostname") or c.id[:12], tty, home),
            "cwd": request.get("WorkingDir") or c.config.get("WorkingDir") or "/"}
    if tty and any(request.get("ConsoleSize") or ()):
        proc["consoleSize"] = dict(zip(("height", "width"), request["ConsoleSize"]))
    if request.get("Privileged"):
        from dockyard.runtime import caps
        every = caps.resolve([], [], True)
        proc["capabilities"] = {"bounding": every, "effective": every, "permitted": every}
    return proc

