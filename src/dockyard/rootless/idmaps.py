"""The id maps of a user's namespace: uid 0 inside is the user, 1..N their subordinate ranges.

The ranges come from /etc/subuid and /etc/subgid (lines `NAME-or-ID:START:COUNT`, as shadow's
newuidmap reads them), and the maps are written by newuidmap/newgidmap, the setuid helpers of
Debian's `uidmap` package: an unprivileged process may map only its own id by itself.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

from dockyard.errors import DockyardError

SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"


def ranges(path: str, name: str, ident: int) -> list[tuple[int, int]]:
    """(start, count) of every range `path` gives the user, in file order."""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(ident)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if count > 0:
            out.append((start, count))
    return out


def mapping(own: int, subordinate: list[tuple[int, int]]) -> list[int]:
    """newuidmap's arguments: inside, outside, count triples, the user first at 0."""
    args, inside = [0, own, 1], 1
    for start, count in subordinate:
        args += [inside, start, count]
        inside += count
    return args


def helpers() -> tuple[str, str]:
    found = shutil.which("newuidmap"), shutil.which("newgidmap")
    if not all(found):
        raise DockyardError("rootless dockyard needs newuidmap and newgidmap to map your subordinate ids: "
                            "install them as root (apt install uidmap)")
    return found  # type: ignore[return-value]


def user_maps() -> tuple[list[int], list[int]]:
    """The uid and gid maps of this user's namespace; one-line errors for a host not set up."""
    uid, gid = os.getuid(), os.getgid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    subuids, subgids = ranges(SUBUID, name, uid), ranges(SUBGID, name, uid)
    for path, found in ((SUBUID, subuids), (SUBGID, subgids)):
        if not found:
            raise DockyardError(
                f"no subordinate id range for user {name} in {path}: add one as root, e.g. "
                f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}")
    return mapping(uid, subuids), mapping(gid, subgids)


def write(pid: int, uid_map: list[int], gid_map: list[int]) -> None:
    """Map `pid`'s fresh user namespace through the setuid helpers."""
    newuidmap, newgidmap = helpers()
    for tool, args in ((newuidmap, uid_map), (newgidmap, gid_map)):
        done = subprocess.run([tool, str(pid), *map(str, args)], capture_output=True, text=True)
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise DockyardError(f"{os.path.basename(tool)} refused to map your subordinate ids: {detail}")
