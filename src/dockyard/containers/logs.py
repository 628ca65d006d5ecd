"""Reading a container's log (`logs`, the API's /logs): tail, since/until, follow.

The shim writes one JSON object per line (`log`, `stream`, `time`), or for a k8s-file log
the CRI's `TIME STREAM F|P TEXT` lines, and rotates files to `.1`, `.2`, ...; reading walks
the rotated files oldest first, then follows the live one.
"""

from __future__ import annotations

import os
import time

from dockyard.containers.views import epoch
from dockyard.jsonread import loads

TYPE_CHECKING = False  # `logs` answers before click loads (cli/readonly.py): no imports for annotations
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

Entry = tuple[str, str, bytes]  # stream, RFC3339Nano time, data


def _files(path: str) -> list[str]:
    """The rotated files (`.N`, oldest first), then the live one."""
    folder, name = os.path.split(path)
    try:
        names = os.listdir(folder or ".")
    except FileNotFoundError:
        return []
    rotated = sorted((int(n[len(name) + 1:]), n) for n in names
                     if n.startswith(name + ".") and n[len(name) + 1:].isdigit() and n[len(name) + 1:].isascii())
    files = [os.path.join(folder, n) for _, n in reversed(rotated)]
    return [*files, path] if os.path.exists(path) else files


def _parse(line: bytes) -> Entry | None:
    if not line.startswith(b"{"):  # k8s-file: a P(artial) line's text goes on in the next one
        parts = line.rstrip(b"\n").split(b" ", 3)
        if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
            return None
        text = parts[3] if len(parts) == 4 else b""
        return parts[1].decode(), parts[0].decode(), text + (b"\n" if parts[2] == b"F" else b"")
    try:
        d = loads(line)
        return d.get("stream", "stdout"), d.get("time", ""), d.get("log", "").encode("utf-8", "surrogateescape")
    except ValueError:
        return None  # a line being written right now, or garbage: skip it


def read(path: Path, *, stdout: bool = True, stderr: bool = True, since: float = 0.0, until: float = 0.0,
         tail: str = "all", follow: bool = False, running: Callable[[], bool] = lambda: False) -> Iterator[Entry]:
    def wanted(e: Entry) -> bool:
        if (e[0] == "stdout" and not stdout) or (e[0] == "stderr" and not stderr):
            return False
        t = epoch(e[1]) if (since or until) else 0
        return (not since or t >= since) and (not until or t <= until)

    n = None if tail in ("all", "", None) else int(tail)
    if n is not None and n < 0:
        raise ValueError("tail must not be negative")
    backlog: list[Entry] = []  # the last n entries (trimmed as it grows: no `collections` to load)
    live = None  # the live file, kept open while following: its removal then loses nothing
    path = os.fspath(path)
    for f in _files(path):
        fh = open(f, "rb")
        pos = 0
        for line in fh:
            if not line.endswith(b"\n"):
                break  # being written: the follow loop picks it up whole
            pos += len(line)
            e = _parse(line)
            # a tail counts the log's last lines, whatever their stream or time (dockerd's
            # reader takes the tail, then filters): kept unfiltered until it is taken
            if e and (n is not None or wanted(e)):
                backlog.append(e)
                if n is not None and len(backlog) >= 2 * n + 1024:
                    del backlog[:-n or len(backlog)]
        if f == path and follow:
            fh.seek(pos)
            live = fh
        else:
            fh.close()
    if n != 0:
        yield from (backlog if n is None else filter(wanted, backlog[-n:]))
    if follow:
        try:
            yield from _follow(path, live, wanted, running)
        finally:
            if live is not None:
                live.close()


def _follow(path: Path, live, wanted: Callable[[Entry], bool], running: Callable[[], bool]) -> Iterator[Entry]:
    """New entries of the live file until the container has ended. The writer finishes
    the log before the container counts as ended, so what is read after that is all."""
    partial = b""
    while True:
        still = running()
        data = live.read() if live is not None else b""
        if data:
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            for line in lines:
                e = _parse(line)
                if e and wanted(e):
                    yield e
            continue
        try:
            if live is None or os.stat(path).st_ino != os.fstat(live.fileno()).st_ino:
                # made, or rotated once the old file was read out: the new one from its start
                new = open(path, "rb")
                if live is not None:
                    live.close()
                live, partial = new, b""
                continue
        except FileNotFoundError:
            pass  # removed with its container, or not made yet
        if not still:
            return
        time.sleep(0.05)
