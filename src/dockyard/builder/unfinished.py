"""Markers of builds in progress, so that a build killed outright leaves nothing behind.

A build, and each of its steps' workspaces, writes `<root>/builds/<key>.json` (its process and
that process's start time) before it makes anything, and removes it once everything is
released. Whatever is made is named after the key: the active snapshot `<key>`, the RUN
container `<key>` (its processes, its cgroup `<cgroup-parent>/<key>`, its runtime state) and
the directories `<tmp>/dockyard-*-<hex of key>` (the mounted rootfs, the RUN bundle, its hosts
files; the build's COPY sources from heredocs and URLs).

A build killed with SIGKILL cannot clean up, so the next dockyard command on the root (one
`listdir` of that directory when no marker is there) and `system check --repair` release what
the markers of dead processes name. Only this root's markers are read, so other roots on the
host are never touched.
"""

from __future__ import annotations

import os

from dockyard.locations import BUILD_MARKERS

TYPE_CHECKING = False  # every read-only command looks for markers: no pathlib for annotations
if TYPE_CHECKING:
    from pathlib import Path

_CLAIM = ".claimed-"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" when there is no such process),
    which tells a process from a later one given the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def scratch_dir(tmp: str, kind: str, key: str) -> str:
    """The path of a step's own temporary directory of `kind` (build, run, run-net...)."""
    return os.path.join(tmp, f"dockyard-{kind}-{key.removeprefix('build-')}")


class Marker:
    """The record of one step in progress on `root`, under its snapshot `key`."""

    def __init__(self, root: Path, key: str) -> None:
        import tempfile

        self.key = key
        self.tmp = tempfile.gettempdir()
        self.path = root / BUILD_MARKERS / f"{key}.json"

    def write(self) -> None:
        import json

        self.path.parent.mkdir(exist_ok=True)
        doc = {"pid": os.getpid(), "start": _start_time(os.getpid()), "tmp": self.tmp}
        part = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        part.write_text(json.dumps(doc))
        os.replace(part, self.path)

    def scratch(self, kind: str) -> str:
        """Make (empty, private) and return the step's temporary directory of `kind`."""
        path = scratch_dir(self.tmp, kind, self.key)
        os.mkdir(path, 0o700)
        return path

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def in_progress(root: Path, key: str) -> bool:
    """Whether the step `key` runs: its marker names a live process."""
    import json
    try:
        doc = json.loads((root / BUILD_MARKERS / f"{key}.json").read_text())
    except (FileNotFoundError, ValueError):
        return False
    return _start_time(doc["pid"]) == doc["start"]


def reclaim(engine) -> list[str]:
    """Release the leftovers of the steps on `engine`'s root whose process is gone; what was
    released, one line per step."""
    folder = engine.root / BUILD_MARKERS
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    import json  # only once there is a folder: every command comes through here

    done = []
    for name in names:
        path = folder / name
        if name.startswith("."):  # a marker being written, whose writer made nothing yet
            pid = name.rsplit(".", 1)[1]
            if pid.isdigit() and not _start_time(int(pid)):
                path.unlink(missing_ok=True)
            continue
        if not name.endswith(".json") and _CLAIM not in name:
            continue
        if _CLAIM in name:  # a reclaimer was itself killed: take over once it is gone
            if _start_time(int(name.rsplit(_CLAIM, 1)[1].split(".")[0] or 0)):
                continue
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            continue  # the step finished meanwhile
        except ValueError:
            doc = {}
        if doc and _start_time(doc["pid"]) == doc["start"]:
            continue  # still building
        claimed = folder / f"{name.split('.json')[0]}.json{_CLAIM}{os.getpid()}.{_start_time(os.getpid())}"
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            continue  # another command took it
        key = name.split(".json")[0]
        _release(engine, key, doc.get("tmp") or "/tmp")
        claimed.unlink()
        done.append(f"released what {key} left (its process {doc.get('pid', '?')} is gone)")
    return done


def _release(engine, key: str, tmp: str) -> None:
    import shutil

    from dockyard.errors import DockyardError
    from dockyard.runtime.cgroups import open_cgroup, remove_empty_parent
    from dockyard.runtime.oci import get_runtime
    from dockyard.snapshots.mount import unmount

    try:
        get_runtime("dockyard", root=str(engine.run_dir / "runtime")).delete(key, force=True)
    except (DockyardError, OSError):
        pass  # never created, or its state is gone: the cgroup is emptied below
    cgroup = open_cgroup(f"{engine.containers.cgroup_parent}/{key}")
    if any(d.is_dir() for d in cgroup.dirs().values()):
        for pid in cgroup.procs():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        cgroup.delete()
        remove_empty_parent(engine.containers.cgroup_parent)
    try:
        engine.networks.detach(key)
    except (DockyardError, OSError):
        pass  # the step was on the host's network or none
    suffix = f"-{key.removeprefix('build-')}"
    for entry in os.scandir(tmp):
        if entry.name.startswith("dockyard-") and entry.name.endswith(suffix):
            unmount(entry.path)  # detached even if busy, so the tree below is no longer the mount's
            if not os.path.ismount(entry.path):
                shutil.rmtree(entry.path, ignore_errors=True)
    if engine.snapshots.exists(key):
        engine.snapshots.remove(key)
