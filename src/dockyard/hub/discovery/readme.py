"""The README of a build source, read from its git repository at the branch it builds.

Only a local repository can be read without a clone; a source elsewhere gets its README from
the page. What git says is cached briefly (a page view should not run git every time).
"""

from __future__ import annotations

import subprocess
import time

from dockyard.hub import hooks
from dockyard.hub.state import Source

NAMES = ("README.md", "README", "readme.md", "Readme.md")
TTL = 10.0
MAX_BYTES = 25000

_cache: dict[tuple[str, str], tuple[float, str]] = {}


def from_git(source: Source) -> str:
    """The README text at the tip of the source's branch; '' if there is none or git cannot read it."""
    local = hooks.local_repository(source.git_url)
    if local is None:
        return ""
    key = (str(local), source.branch)
    hit = _cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    text = ""
    for name in NAMES:
        proc = subprocess.run(["git", "--git-dir", str(local), "show", f"refs/heads/{source.branch}:{name}"],
                              capture_output=True, timeout=10)
        if proc.returncode == 0:
            text = proc.stdout[:MAX_BYTES].decode(errors="replace")
            break
    _cache[key] = (time.monotonic() + TTL, text)
    return text
