"""A container path resolved inside its root on the host, as the kernel would inside the
container: kept apart from linux.py (ctypes) for the commands that answer before it loads."""

from __future__ import annotations

import errno
import os


def secure_join(root: str, unsafe: str) -> str:
    """Resolve `unsafe` as if `root` were '/', following symlinks without leaving root.

    Container paths come from images and users; a symlink like /etc -> /host/etc inside the
    rootfs must resolve inside the rootfs, never on the host.
    """
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
                raise
            resolved.append(part)
            continue
        links += 1
        if links > 255:
            raise OSError(errno.ELOOP, f"too many symlinks resolving {unsafe}")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return os.path.join(root, *resolved)
