"""How deletions are spelled: OCI's `.wh.` files in tars, overlayfs's own marks on disk.

A layer tar cannot hold "this path is gone", so OCI spells it as an empty file named
`.wh.<name>`, and "this directory hides everything below it" as `<dir>/.wh..wh..opq`.
overlayfs spells the same two facts as a 0:0 character device and the xattr
`trusted.overlay.opaque=y` (`user.overlay.opaque=y` rootless). apply translates the first into the second, diff back again.
fuse-overlayfs reads overlayfs's marks, but writes opaque directories its own way: the xattr
`user.fuseoverlayfs.opaque=y` and a `.wh..wh..opq` file inside (with a `.wh..opq` whiteout
beside it); its `.wh.` names in an upper dir are marks, never content.
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
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.", "user.fuseoverlayfs.")
FUSE_OPAQUE_XATTR = "user.fuseoverlayfs.opaque"


def opaque_xattr() -> str:
    """The xattr marking an opaque directory for this engine's overlay mounts."""
    return "user.overlay.opaque" if rootless.active() else "trusted.overlay.opaque"


def is_overlay_whiteout(st: os.stat_result) -> bool:
    """An overlayfs whiteout: a character device numbered 0:0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_mark(name: str) -> bool:
    """A name fuse-overlayfs keeps its own marks under in an upper dir (overlayfs and apply
    never write `.wh.` names to disk)."""
    return name.startswith(PREFIX)


def is_opaque(path: str) -> bool:
    """Whether an overlay upper directory hides everything below it in the lower layers."""
    for name in (opaque_xattr(), FUSE_OPAQUE_XATTR):
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return os.path.lexists(os.path.join(path, OPAQUE))
