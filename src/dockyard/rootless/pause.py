"""The user's pause process: it holds the namespaces every rootless command joins.

Started by the first command that finds none (under a lock, so two first commands make one),
it is a child that unshares a user and a mount namespace, waits while its parent maps the
user namespace (idmaps.write), unshares a network namespace, then execs `catatonit -P`, which
only sleeps (a Python loop where catatonit is missing). Its pid and start time are kept in
`$XDG_RUNTIME_DIR/dockyard/pause.pid`, so a recycled pid is never joined. It lives on after
the command, as podman's does; its namespaces, and every mount made in them, go with it.
"""

from __future__ import annotations

import os

from dockyard.rootless import paths
from dockyard.runtime.shim.records import process_start_time

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_MOVE, MS_REC = 2, 4, 8, 4096, 8192, 16384


def running() -> int | None:
    """The pid of the user's live pause process, or None."""
    try:
        with open(paths.pause_pid_file()) as f:
            pid, start_time = (int(v) for v in f.read().split())
    except (FileNotFoundError, ValueError):
        return None
    return pid if process_start_time(pid) == start_time else None


def ensure() -> int:
    """The pid of the user's pause process, started if none runs (and its network helper
    started again if it died)."""
    pid = running()
    if pid:
        if not _helper_serves(pid):
            _repair(pid)
        return pid
    from dockyard.store.lock import exclusive

    pidfile = paths.pause_pid_file()
    os.makedirs(pidfile.parent, mode=0o700, exist_ok=True)
    with exclusive(pidfile.with_name("pause.lock")):
        pid = running()
        if pid:
            return pid
        pid = _start()
        tmp = pidfile.with_name(f".pause.pid.{os.getpid()}")
        tmp.write_text(f"{pid} {process_start_time(pid)}\n")
        os.replace(tmp, pidfile)
        _way_out(pid)
    return pid


def _way_out(pid: int) -> None:
    """Start the user's network helper (network/rootless: pasta and the published ports'
    forwarder) from the host's namespaces, as it must be. Without it containers still run,
    reaching one another but not the outside: said in one line, and noted in the helper's
    directory so that later commands do not try again (and wait) each time."""
    import sys

    from dockyard.errors import DockyardError
    from dockyard.network import rootless as rootless_net

    failed = paths.net_helper_dir() / "failed"
    try:
        rootless_net.start_outside(pid, paths.run_dir())
    except DockyardError as e:
        print(f"warning: containers will not reach beyond this user's namespaces, nor publish ports: {e.message}",
              file=sys.stderr)
        failed.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        failed.write_text(f"{pid} {process_start_time(pid)}\n{e.message}\n")
    else:
        failed.unlink(missing_ok=True)


def _helper_serves(pid: int) -> bool:
    """Whether the network helper serving pause process `pid` runs, or could not be started
    for it (read from its files and /proc only: every command asks)."""
    directory = paths.net_helper_dir()
    try:
        with open(directory / "forwarder.pid") as f:
            helper = int(f.read().split()[0])
        with open(f"/proc/{helper}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (OSError, ValueError, IndexError):
        argv = []
    if b"dockyard.network.rootless.forwarder" in argv and str(pid).encode() in argv:
        return True
    try:
        with open(directory / "failed") as f:
            return f.readline() == f"{pid} {process_start_time(pid)}\n"
    except OSError:
        return False


def _repair(pid: int) -> None:
    """The helper died (killed, or its link could not be restarted): start it again, once."""
    from dockyard.store.lock import exclusive

    with exclusive(paths.pause_pid_file().with_name("pause.lock")):
        if not _helper_serves(pid):
            _way_out(pid)


def _start() -> int:
    """Fork the pause process and map its user namespace (what joining needs once runs quickly:
    the imports for this are made only here)."""
    import ctypes
    import shutil

    from dockyard.errors import DockyardError
    from dockyard.rootless import idmaps

    idmaps.helpers()
    uid_map, gid_map = idmaps.user_maps()
    _settle_cgroup()
    libc = ctypes.CDLL(None, use_errno=True)
    catatonit = shutil.which("catatonit")
    aside = paths.run_dir() / f".cgroup.{os.getpid()}"  # where /sys/fs/cgroup waits while /sys is remounted
    aside.mkdir(exist_ok=True)
    unshared_r, unshared_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the pause process: never returns to the caller's code
        try:
            os.close(unshared_r)
            os.close(go_w)
            code = 0 if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 else ctypes.get_errno()
            os.write(unshared_w, f"{code}\n".encode())
            if code == 0 and os.read(go_r, 1) == b"1":
                # the network namespace once the ids are mapped: its /proc/net and /proc/sys/net
                # files then belong to the user's root (made before, they are the host root's,
                # and conntrack's table, read at each container's exit, would be closed to it)
                code = 0 if libc.unshare(CLONE_NEWNET) == 0 else ctypes.get_errno()
                code = code or _own_sysfs(libc, os.fsencode(aside))
                os.write(unshared_w, f"{code}\n".encode())
                if code == 0:
                    _pause(catatonit)
        finally:
            os._exit(1)
    os.close(unshared_w)
    os.close(go_r)
    status = os.fdopen(unshared_r, "rb", buffering=0)
    try:
        code = _status(status)
        if code:
            raise DockyardError(
                "cannot create a user namespace"
                + (f": {os.strerror(code)}" if code > 0 else "")
                + " (is user.max_user_namespaces 0, or are unprivileged user namespaces disabled?)")
        idmaps.write(pid, uid_map, gid_map)
        os.write(go_w, b"1")
        code = _status(status)
        if code:
            raise DockyardError("cannot make the rootless network namespace and its /sys"
                                + (f": {os.strerror(code)}" if code > 0 else ""))
    except BaseException:
        os.write(go_w, b"0")
        os.waitpid(pid, 0)
        raise
    finally:
        status.close()
        os.close(go_w)
        aside.rmdir()
    return pid


def _settle_cgroup() -> None:
    """Take this command's cgroup for the user's containers if it is delegated (the pause
    process forks into its leaf, where later commands find it: runtime/delegation.py)."""
    import sys

    from dockyard.errors import DockyardError
    from dockyard.runtime import delegation

    try:
        delegation.settle()
    except (DockyardError, OSError) as e:
        why = e.message if isinstance(e, DockyardError) else str(e)
        print(f"warning: containers will get no limits: {why}", file=sys.stderr)


def _own_sysfs(libc, aside: bytes) -> int:
    """In the child: a sysfs of its own network namespace on /sys (sysfs shows the links of
    whoever mounted it, and the engine reads them there), with the host's /sys/fs/cgroup kept
    (runc and crun look there). 0, or the errno of the failing mount."""
    import ctypes

    kept = libc.mount(b"/sys/fs/cgroup", aside, None, MS_BIND | MS_REC, None) == 0
    if libc.mount(b"sysfs", b"/sys", b"sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0:
        return ctypes.get_errno()
    if kept and libc.mount(aside, b"/sys/fs/cgroup", None, MS_MOVE, None) != 0:
        return ctypes.get_errno()
    return 0


def _status(pipe) -> int:
    """The child's next report: 0, an errno, or -1 when it ended without one."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = pipe.read(1)
        if not chunk:
            return -1
        line += chunk
    return int(line)


def _pause(catatonit: str | None) -> None:
    """In the child: leave the caller's session and directories, then sleep for good."""
    import signal

    try:
        os.setsid()
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the pid file's lock among them
        if catatonit:
            os.execv(catatonit, [catatonit, "-P"])
        for sig in (signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            signal.pause()
    finally:
        os._exit(1)
