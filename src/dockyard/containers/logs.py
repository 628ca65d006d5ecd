"""Reading a container's log (`logs`, the API's /logs): tail, since/until, follow.

The shim writes one JSON object per line (`log`, `stream`, `time`), or for a k8s-file log
the CRI's `TIME STREAM F|P TEXT` lines, and rotates files to `.1`, `.2`, ...; reading walks
the rotated files oldest first, then follows the live one.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterator

from dockyard.containers.views import epoch

Entry = tuple[str, str, bytes]  # stream, RFC3339Nano time, data


def _files(path: Path) -> list[Path]:
    rotated = sorted((p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()),
                     key=lambda p: -int(p.suffix[1:]))
    return [*rotated, path] if path.exists() else rotated


def _parse(line: bytes) -> Entry | None:
    if not line.startswith(b"{"):  # k8s-file: a P(artial) line's text goes on in the next one
        parts = line.rstrip(b"\n").split(b" ", 3)
        if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
            return None
        text = parts[3] if len(parts) == 4 else b""
        return parts[1].decode(), parts[0].decode(), text + (b"\n" if parts[2] == b"F" else b"")
    try:
        d = json.loads(line)
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
    backlog: deque[Entry] | list[Entry] = deque(maxlen=n) if n is not None else []
    live_pos, live_ino = 0, None
    for f in _files(path):
        with open(f, "rb") as fh:
            pos = 0
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # being written: the follow loop picks it up whole
                pos += len(line)
                e = _parse(line)
                if e and wanted(e):
                    backlog.append(e)
            if f == path:
                live_pos, live_ino = pos, os.fstat(fh.fileno()).st_ino
    if n != 0:
        yield from backlog
    if not follow:
        return
    partial = b""
    while True:
        still = running()
        try:
            st = path.stat()
            if st.st_ino != live_ino:  # rotated under us: start the new file from its beginning
                live_pos, live_ino = 0, st.st_ino
            with open(path, "rb") as fh:
                fh.seek(live_pos)
                data = fh.read()
                live_pos = fh.tell()
        except FileNotFoundError:
            data = b""
        if data:
            data = partial + data
            lines = data.split(b"\n")
            partial = lines.pop()
            for line in lines:
                e = _parse(line)
                if e and wanted(e):
                    yield e
            continue
        if not still:
            return
        time.sleep(0.05)
