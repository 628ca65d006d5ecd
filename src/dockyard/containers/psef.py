"""`ps -ef`'s columns for a few processes, read from /proc without running ps.

`docker top C` with no ps options shows the host's `ps -ef` lines of the container's processes;
running ps reads every process on the host and costs a fork, an exec and ~10 ms of its CPU. For
the handful of processes a container has, their /proc files give the same fields as procps 4
prints them: UID (the effective user's name, cut to 7 characters and `+` past 8, or the number
when it has no name), PID, PPID, C (lifetime CPU %, capped at 99), STIME (HH:MM today, MonDD this
year, else the year), TTY, TIME ([DD-]HH:MM:SS of CPU) and CMD (the arguments joined by spaces).

Whatever procps would print differently from that is not guessed at: `rows` answers None, and
the caller runs ps. That is a process with a terminal (ps names the device), an empty
command line (ps shows `[comm]`, zombies `<defunct>`), anything but printable ASCII in a
name or argument (escaped per locale), a long command line, a locale whose month names are not
C's, or an environment variable that changes ps's output (COLUMNS, PS_FORMAT, ...).
"""

from __future__ import annotations

import os
import time

TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
#: Variables procps reads that change what `ps -ef` prints (width, personality, format).
_PS_ENVIRONMENT = ("COLUMNS", "PS_PERSONALITY", "CMD_ENV", "PS_FORMAT", "POSIXLY_CORRECT", "I_WANT_A_BROKEN_PS",
                   "UNIX95", "_XPG", "PS_SYSMAP", "PS_SYSTEM_MAP", "PS_COLORS", "PS_LIBPROC_CONFIG")
_LONGEST_CMD = 4096  # well inside procps's buffer
_NAME_WIDTH = 8  # the UID column's
_PRINTABLE = bytes(range(0x20, 0x7f))  # what procps prints as it is in any locale


class Unsure(Exception):
    """A process ps would print in a way this module does not reproduce."""


def rows(pids: list[int]) -> list[list[str]] | None:
    """`ps -ef`'s fields for those of `pids` that still run, in ps's order (by pid); None
    where only ps itself can say (see the module's docstring)."""
    if not _environment_plain():
        return None
    try:
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        hz = os.sysconf("SC_CLK_TCK")
        now = time.localtime(time.time())
        out = []
        for pid in sorted(set(pids)):
            try:
                out.append(_row(pid, boot, uptime, hz, now))
            except (FileNotFoundError, ProcessLookupError):
                continue  # gone since the cgroup was read: ps would not list it either
        return out
    except (Unsure, OSError, ValueError, StopIteration):
        return None


def _environment_plain() -> bool:
    if any(name in os.environ for name in _PS_ENVIRONMENT):
        return False
    locale = os.environ.get("LC_ALL") or os.environ.get("LC_TIME") or os.environ.get("LANG") or "C"
    return locale in ("C", "POSIX") or locale.startswith(("C.", "en_"))


def _row(pid: int, boot: int, uptime: float, hz: int, now) -> list[str]:
    base = f"/proc/{pid}/"
    with open(base + "stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    state, ppid, tty = fields[0], int(fields[1]), int(fields[4])
    ticks, started = int(fields[11]) + int(fields[12]), int(fields[19])
    if state in (b"Z", b"X") or tty != 0:
        raise Unsure(pid)
    with open(base + "status", "rb") as f:
        euid = next(int(line.split()[2]) for line in f if line.startswith(b"Uid:"))
    with open(base + "cmdline", "rb") as f:
        raw = f.read(_LONGEST_CMD + 1)
    cmd = raw.rstrip(b"\0").replace(b"\0", b" ")
    if not cmd.strip() or len(raw) > _LONGEST_CMD or not raw.endswith(b"\0") or not _printable(cmd):
        raise Unsure(pid)

    elapsed = int((uptime - started / hz) * hz) if uptime >= started / hz else 0
    cpu = min(ticks * 100 // elapsed, 99) if elapsed else 0
    start = time.localtime(boot + started // hz)
    fmt = "%Y" if start.tm_year != now.tm_year else "%b%d" if start.tm_yday != now.tm_yday else "%H:%M"
    seconds = ticks // hz
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return [_user(euid), str(pid), str(ppid), str(cpu), time.strftime(fmt, start), "?",
            f"{days}-{clock}" if days else clock, cmd.decode().lstrip(" ")]


def _user(uid: int) -> str:
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
    if not _printable(name.encode()):
        raise Unsure(uid)
    return name if len(name) <= _NAME_WIDTH else name[:_NAME_WIDTH - 1] + "+"


def _printable(data: bytes) -> bool:
    return not data.translate(None, _PRINTABLE)
