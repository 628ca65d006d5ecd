"""A root's identity: a short random ID in `<root>/root-id`, made once, the first time anyone
asks. Every host object the root makes (links, nft tables, run dir) carries it, so that
several roots on one host each recognise their own objects and leave the others' alone."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dockyard.errors import DockyardError

ID_FILE = "root-id"
ID_RE = re.compile(r"^[0-9a-f]{8}$")


def read_root_id(root: Path) -> str | None:
    """The root's identity, None when it has none (yet) or the file is not one."""
    try:
        text = (root / ID_FILE).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text if ID_RE.match(text) else None


def root_id(root: Path) -> str:
    """The root's identity, made now if it has none: 8 hex digits (bridge names hold 15
    characters). Two processes making it at once agree: the file is linked into place, never
    replaced, and the loser reads the winner's."""
    found = read_root_id(root)
    if found:
        return found
    path = root / ID_FILE
    if path.exists():
        found = read_root_id(root)  # another process linked its own in meanwhile
        if found:
            return found
        raise DockyardError(f"{path} does not hold a root identity (8 hex digits); fix or remove it")
    tmp = root / f".{ID_FILE}.{os.getpid()}"
    tmp.write_text(os.urandom(4).hex() + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return root_id(root)
