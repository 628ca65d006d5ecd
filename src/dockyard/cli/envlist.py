"""`-e` and `--env-file` of `run`, `create` and `exec`, read as docker reads them (click-free:
`exec`'s quick path reads them too)."""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument


def env_list(values, files) -> list[str]:
    """`-e` and `--env-file` as docker reads them: NAME alone takes the caller's value."""
    out = []
    for path in files:
        try:
            text = open(path).read()
        except OSError as e:
            raise InvalidArgument(f"open {path}: {e.strerror.lower()}") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line if "=" in line else f"{line}={os.environ.get(line, '')}")
    for v in values:
        if "=" not in v:
            if v in os.environ:
                out.append(f"{v}={os.environ[v]}")
            continue
        out.append(v)
    return out
