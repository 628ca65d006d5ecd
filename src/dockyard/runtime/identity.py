"""Who a process runs as in a container and the environment it gets, as Docker resolves them:
the user from the container's own /etc/passwd and /etc/group, PATH, HOSTNAME and HOME. Kept
light (no ctypes, no spec) for `exec`'s quick path, which resolves them before anything loads.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.runtime.securejoin import secure_join

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def process_env(env: list[str], hostname: str, tty: bool, home: str) -> list[str]:
    """A process's environment as Docker gives it: PATH (the default), HOSTNAME and, with a
    terminal, TERM=xterm, each replaced in place by `env` (the container's Env, then any
    later values), whose other names follow in order (a bare NAME unsets); then HOME, the
    user's home directory, unless `env` set it (runc adds it the same way)."""
    out = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    if tty:
        out["TERM"] = "xterm"
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep:
            out[key] = value
        else:
            out.pop(key, None)
    out.setdefault("HOME", home)
    return [f"{k}={v}" for k, v in out.items()]


def read_account_db(rootfs: str, name: str) -> list[list[str]]:
    """The entries of the rootfs's /etc/`name` (passwd, group), split at colons."""
    try:
        with open(secure_join(rootfs, f"/etc/{name}")) as f:
            return [line.rstrip("\n").split(":") for line in f
                    if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(user: str, rootfs: str, group_add: list[str] = ()) -> dict:
    """The OCI `process.user` for docker's --user; see lookup_user."""
    return lookup_user(user, rootfs, group_add)[0]


def lookup_user(user: str, rootfs: str, group_add: list[str] = ()) -> tuple[dict, str]:
    """(the OCI `process.user`, the home directory) for docker's --user ('name', 'uid',
    'name:group', 'uid:gid'), resolved against the image's /etc/passwd and /etc/group as
    Docker does: the groups are the primary one, those that list the user as a member
    (unless a group was named) and --group-add; the home is the passwd entry's, or /."""
    passwd = [e for e in read_account_db(rootfs, "passwd") if len(e) >= 4]
    groups = [e for e in read_account_db(rootfs, "group") if len(e) >= 3]
    name_part, _, group_part = (user or "0").partition(":")
    if name_part.isdigit():
        entry = next((e for e in passwd if e[2] == name_part), None)
        uid, gid = int(name_part), int(entry[3]) if entry else 0
    else:
        entry = next((e for e in passwd if e[0] == name_part), None)
        if entry is None:
            raise InvalidArgument(f"unable to find user {name_part}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3])
    username = entry[0] if entry else ""

    def group_id(name: str) -> int:
        match = next((g for g in groups if (g[2] if name.isdigit() else g[0]) == name), None)
        if match is not None:
            return int(match[2])
        if name.isdigit():
            return int(name)
        raise InvalidArgument(f"unable to find group {name}: no matching entries in group file")

    if group_part:
        gid = group_id(group_part)
    additional = []
    if not group_part:
        additional = [int(g[2]) for g in groups
                      if username and len(g) > 3 and username in g[3].split(",")]
    additional += [group_id(g) for g in group_add]
    home = entry[5] if entry and len(entry) > 5 and entry[5] else "/"
    return {"uid": uid, "gid": gid, "additionalGids": list(dict.fromkeys([gid, *additional]))}, home
