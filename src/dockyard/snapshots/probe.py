"""Which storage driver a new root gets: the first whose trial mount works, in this order.

overlay (the kernel's; in a user namespace it needs Linux 5.11), then fuse-overlayfs (its
program and /dev/fuse), then vfs, which needs nothing. Each trial mounts a lower and an upper
dir in a scratch directory on the root's own filesystem, writes through the mount and checks
that the write reached the upper dir, as Docker's and podman's drivers check themselves.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.store.scratch import scratch_name

log = logging.getLogger(__name__)

#: Drivers (comma-separated) whose trial mount is given an option their mounter rejects, so
#: a test can make the kernel refuse overlay for real. fuse-overlayfs ignores unknown options:
#: its refusal is its program missing (fuse_overlay.PROGRAM_ENV).
REFUSE_ENV = "DOCKYARD_STORAGE_PROBE_REFUSE"
REFUSED_OPTION = "dockyard_probe_refused"


def choose(snapshots_dir: Path) -> str:
    for name in ("overlay", "fuse-overlayfs"):
        why = trial(name, snapshots_dir)
        if why is None:
            return name
        log.info("storage driver %s is not usable here: %s", name, why)
    return "vfs"


def trial(name: str, snapshots_dir: Path) -> str | None:
    """None if a `name` mount works in `snapshots_dir`, else why not."""
    from dockyard.snapshots import snapshotter_class
    from dockyard.snapshots.mount import mount, unmount

    scratch = snapshots_dir / scratch_name()
    dirs = {d: scratch / d for d in ("lower", "upper", "work", "merged")}
    try:
        for d in dirs.values():
            d.mkdir(parents=True)
        (dirs["lower"] / "probe").write_text("")
        m = snapshotter_class(name).stacked([str(dirs["lower"])], str(dirs["upper"]), str(dirs["work"]))
        if name in os.environ.get(REFUSE_ENV, "").split(","):
            m.options.append(REFUSED_OPTION)
        try:
            mount(m, dirs["merged"])
        except DockyardError as e:
            return str(e)
        try:
            (dirs["merged"] / "written").write_text("")
            if not (dirs["upper"] / "written").exists() or not (dirs["merged"] / "probe").exists():
                return "a file written through the mount did not reach its upper dir"
        finally:
            unmount(dirs["merged"])
        return None
    except OSError as e:
        return e.strerror or str(e)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
