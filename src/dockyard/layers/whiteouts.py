"""How deletions are spelled: OCI's `.wh.` files in tars, overlayfs's own marks on disk.

A layer tar cannot hold "this path is gone", so OCI spells it as an empty file named
`.wh.<name>`, and "this directory hides everything below it" as `<dir>/.wh..wh..opq`.
overlayfs spells the same two facts as a 0:0 character device and the xattr
`trusted.overlay.opaque=y` (`user.overlay.opaque=y` rootless). apply translates the first into the second, diff back again.
"""

from __future__ import annotations

import os
import stat

from dockyard import rootless

PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
#: aufs kept its bookkeeping under names with this prefix at the layer root; never content.
META_PREFIX = ".wh..wh."

#: overlayfs's private xattrs (opaque, redirect, metacopy, origin...) steer the kernel's view
#: of the lower layers; a tar must never be able to set them, and diffs never carry them.
#: The `user.` ones are what overlay mounted with `userxattr` uses: a rootless engine's, since
#: a user namespace may not set `trusted.` xattrs.
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def opaque_xattr() -> str:
    """The xattr marking an opaque directory for this engine's overlay mounts."""
    return "user.overlay.opaque" if rootless.active() else "trusted.overlay.opaque"


def is_overlay_whiteout(st: os.stat_result) -> bool:
    """An overlayfs whiteout: a character device numbered 0:0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    """Whether an overlay upper directory hides everything below it in the lower layers."""
    try:
        return os.getxattr(path, opaque_xattr(), follow_symlinks=False) == b"y"
    except OSError:
        return False
