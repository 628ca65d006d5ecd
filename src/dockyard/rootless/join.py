"""Joining the user's namespaces: the first thing a rootless `dockyard` command does.

setns into a user namespace needs a single-threaded process, so this runs from the
executable's entry (cli/entry.py) before any module that might start a thread. It joins in
place, without a second exec: user namespace first (which gives this process root's
capabilities inside it), then the mount namespace it owns; the process stays in the host's
network namespace (rootless/netns.py says why). Joining a mount namespace moves the process
to its root directory, so the working directory is restored.
"""

from __future__ import annotations

import os

from dockyard.rootless import ENV, pause

NAMESPACES = (("user", 0x10000000), ("mnt", 0x00020000))  # not "net": see rootless/netns.py


def enter() -> None:
    """Join the user's namespaces (starting its pause process if none runs)."""
    import ctypes

    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    try:
        pid = pause.ensure()
        fds = _open(pid)
    except FileNotFoundError:  # the pause process ended between the check and the open
        pid = pause.ensure()
        fds = _open(pid)
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        for fd, (name, flag) in zip(fds, NAMESPACES):
            if libc.setns(fd, flag) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"cannot join the rootless {name} namespace of pause process {pid}: "
                                   f"{os.strerror(err)}")
    finally:
        for fd in fds:
            os.close(fd)
    os.environ[ENV] = str(pid)
    _sbin_on_path()
    try:
        os.chdir(cwd or "/")
    except OSError:
        os.chdir("/")


def _sbin_on_path() -> None:
    """An ordinary user's PATH lacks the sbin directories where ip, nft and runc live; root's has them."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    missing = [d for d in ("/usr/local/sbin", "/usr/sbin", "/sbin") if d not in path]
    if missing:
        os.environ["PATH"] = os.pathsep.join([*missing, *path] if path != [""] else missing)


def _open(pid: int) -> list[int]:
    return [os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name, _ in NAMESPACES]
