"""What the kernel still holds, read the way a user reads it, for residue checks."""

from __future__ import annotations

import subprocess
import time


def links(owner: str) -> str:
    """`ip -o link`, once the veths of removed namespaces (alias "dockyard:<owner>:ep:...", the
    owner being a root's identity) are gone: the kernel frees them in the background, within
    ~50 ms of the namespace."""
    for _ in range(100):
        out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        if f"dockyard:{owner}:ep:" not in out:
            break
        time.sleep(0.02)
    return out
