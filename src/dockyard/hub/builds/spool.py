"""Pushes a git hook has seen, waiting to become builds: files in <root>/hub/spool/.

The post-receive hook is a few lines of shell that append `REPO SHA REF` lines to a file and
rename it into the spool, so a push costs the pusher no Python start-up and never fails
because the hub is down. Whoever runs next turns the files into queued builds: the server's
worker every poll, and `hub builds`. A file is claimed by renaming it, so two drains never
queue one push twice.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.hub.builds.store import BuildBook
from dockyard.hub.builds.trigger import queue_push

log = logging.getLogger(__name__)
SUFFIX = ".push"


def spool_dir(root: Path) -> Path:
    return root / "hub" / "spool"


def drain(book: BuildBook) -> list[int]:
    """Queue the builds of every spooled push, oldest first; returns the build ids."""
    spool = spool_dir(book.state.root)
    try:
        names = sorted(e.name for e in os.scandir(spool) if e.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []
    queued = []
    for name in names:
        claimed = spool / f".{name}.{os.getpid()}"
        try:
            os.rename(spool / name, claimed)
        except FileNotFoundError:
            continue  # another process took it
        for line in claimed.read_text(errors="replace").splitlines():
            repo, _, rest = line.partition(" ")
            sha, _, ref = rest.partition(" ")
            try:
                queued += [build_id for build_id, _ in queue_push(book, repo, ref, sha)]
            except DockyardError as exc:
                log.warning("push of %s to %s not built: %s", ref, repo, exc.message)
        claimed.unlink()
    return queued
