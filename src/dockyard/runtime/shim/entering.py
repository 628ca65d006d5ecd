"""What probe.c is told to enter a running container and run one command there, as the
"key value" lines of probe.h: the health probe's file (containers/health.py) and `exec`'s
quick path (an exec profile, containers/execprofile.py, plus the command's own lines).

The container's part (capabilities, cgroups, rlimits, seccomp, labels) is the same for every
command run in one start; the command's part (args, env, cwd, user) is its own.
"""

from __future__ import annotations


def container_lines(process: dict, cgroup_dirs: list[str], seccomp_path: str | None) -> list[tuple[str, object]]:
    """The lines of a container's OCI `process` and cgroups that every command run in it shares;
    `seccomp_path` is its compiled filter's file."""
    import resource

    from dockyard.runtime import caps
    lines: list[tuple[str, object]] = [("no_new_privs", int(bool(process.get("noNewPrivileges")))),
                                       ("cap_last", caps.last_cap())]
    lines += capability_lines(process.get("capabilities") or {})
    lines += [("cgroup", d) for d in cgroup_dirs]
    for limit in process.get("rlimits") or []:
        number = getattr(resource, limit["type"], None)
        if number is not None:
            lines.append(("rlimit", f"{number} {_rlim(limit['soft'])} {_rlim(limit['hard'])}"))
    if seccomp_path:
        lines.append(("seccomp", seccomp_path))
    if process.get("apparmorProfile"):
        lines.append(("apparmor", process["apparmorProfile"]))
    if process.get("selinuxLabel"):
        lines.append(("selinux", process["selinuxLabel"]))
    return lines


def capability_lines(capabilities: dict) -> list[tuple[str, str]]:
    """An OCI `process.capabilities` as the five masks (each set that is absent is empty)."""
    from dockyard.runtime import caps
    return [(f"cap_{kind}", format(bits, "x")) for kind, bits in caps.process_masks(capabilities).items()]


def command_lines(process: dict) -> list[tuple[str, object]]:
    """The lines of the command itself: args, env, cwd, user and its terminal's size."""
    user = process.get("user") or {}
    lines: list[tuple[str, object]] = [("cwd", process.get("cwd") or "/"), ("uid", user.get("uid", 0)),
                                       ("gid", user.get("gid", 0))]
    lines += [("arg", a) for a in process["args"]]
    lines += [("env", e) for e in process.get("env") or []]
    lines += [("group", g) for g in user.get("additionalGids") or []]
    if "umask" in user:
        lines.append(("umask", user["umask"]))
    if process.get("consoleSize"):
        lines.append(("console_size", f"{process['consoleSize']['height']} {process['consoleSize']['width']}"))
    return lines


def file_text(lines: list[tuple[str, object]]) -> str:
    """The lines as a file probe_config_read reads (a newline or backslash in a value escaped)."""
    return "".join(f"{k} {_escape(str(v))}\n" for k, v in lines)


def _rlim(value: int) -> int:
    return -1 if value < 0 or value >= 2**63 else value


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")
