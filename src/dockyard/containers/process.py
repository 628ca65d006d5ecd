"""The OCI process of a command run beside a running container's own (`exec`, health checks),
built as Docker builds it: the container's environment under the command's own, HOSTNAME,
TERM with a terminal, HOME and groups of the user it runs as, the container's working dir.
"""

from __future__ import annotations


def exec_process(service, c, request: dict) -> dict:
    """The process for `request` (Docker's ExecConfig: Cmd, Env, WorkingDir, User, Tty,
    Privileged) in the running container `c`; unset fields come from its config.json."""
    from dockyard.runtime import caps
    from dockyard.runtime.spec import process_env
    tty = bool(request.get("Tty"))
    user, home = exec_user(service, c, request.get("User") or "")
    proc = {"args": list(request["Cmd"]), "terminal": tty, "user": user,
            "env": process_env([*(c.config.get("Env") or []), *(request.get("Env") or [])],
                               c.config.get("Hostname") or c.id[:12], tty, home),
            "cwd": request.get("WorkingDir") or c.config.get("WorkingDir") or "/"}
    if request.get("Privileged"):
        every = caps.resolve([], [], True)
        proc["capabilities"] = {"bounding": every, "effective": every, "permitted": every}
    return proc


def exec_user(service, c, user: str) -> tuple[dict, str]:
    """(OCI user, home) of `user` (the container's own when empty) in the running container
    `c`, looked up in its /etc/passwd and /etc/group as they are now, with its --group-add."""
    from dockyard.runtime.spec import lookup_user
    rootfs = str(service.run_dir(c.id) / "rootfs")
    return lookup_user(user or c.config.get("User") or "", rootfs, c.host_config.get("GroupAdd") or [])
