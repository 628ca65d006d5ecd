"""The container service: create, start, stop, kill, remove, wait, and the state behind them.

A running container is watched by its shim (runtime/shim), not by this process: the shim
records exits in its state dir and runs `dockyard container cleanup ID` when the container
is done for good. Every read here first reconciles the record with what the shim says, so
a killed CLI or a killed shim never leaves a container that claims to run.

Each operation lives in its own module (create, start, networking, exit, stop, remove, wait,
pause, update), as a part ContainerService is made of; this module holds what they share
(lookup, events, the lifecycle lock, the runtime) and the thin entries to views, files, logs
and execs.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dockyard.containers.create import Create
from dockyard.containers.exit import Exit
from dockyard.containers.logdrivers import ReadingUnsupported, keeps_log
from dockyard.containers.networking import Networking
from dockyard.containers.pause import Pause
from dockyard.containers.paths import ContainerPaths
from dockyard.containers.record import Container, ContainerStore
from dockyard.containers.remove import Remove
from dockyard.containers.runtimes import builtin
from dockyard.containers.start import Start
from dockyard.containers.stop import Stop
from dockyard.containers.update import Update
from dockyard.containers.views import event_attributes, top_table
from dockyard.containers.wait import Wait
from dockyard.containers import health
from dockyard.errors import Conflict, NotFound
from dockyard.runtime.shim.records import state_dir

LIFECYCLE_LOCK = "lifecycle.lock"  # in the container's dir


class ContainerService(Create, Start, Networking, Exit, Stop, Remove, Wait, Pause, Update, ContainerPaths):
    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.store = ContainerStore(engine.db)

    @property
    def images(self):
        """The engine's image service, made on first use: `exec`, `stop` and the like never
        need it (its modules cost ~15 ms to import). The engine tells it which images
        containers use."""
        return self.engine.images

    def runtime_root(self, runtime: str) -> Path:
        return self.engine.run_dir / "runtime" / runtime

    def lifecycle_file(self, cid: str, create: bool = False) -> int:
        """An fd of the container's lifecycle lock file (see _lifecycle), made at its create;
        FileNotFoundError when it is not there (the container is removed, or older than that)."""
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        return os.open(self.dir(cid) / LIFECYCLE_LOCK, flags, 0o600)

    @contextmanager
    def _lifecycle(self, cid: str, *, missing_ok: bool = False) -> Iterator[None]:
        """Serialises a start with the release of the run before it (an exit hook may still be
        unmounting the rootfs when `docker start` follows `docker stop`), and a finalize or a
        remove with a `wait` that answers once they are done, across processes and threads.
        Never taken twice by one caller. `missing_ok`: without the container's directory, go
        on unlocked."""
        import fcntl
        try:  # the container's directory is made with it and goes with it: never made again here
            fd = self.lifecycle_file(cid, create=True)
        except FileNotFoundError:
            if not missing_ok:
                raise NotFound(f"No such container: {cid}") from None
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def event(self, c: Container, action: str, **extra: str) -> None:
        """Log a container event as dockerd does: the container's labels, its image and name,
        then the action's own attributes."""
        self.engine.events.emit("container", action, c.id, **event_attributes(c, **extra))

    def _mount_events(self, c: Container, action: str) -> None:
        """mount / unmount of each named or anonymous volume a run uses."""
        for m in c.mounts:
            if m.get("Type") == "volume" and m.get("Name"):
                extra = {"destination": m["Destination"], "propagation": m.get("Propagation", ""),
                         "read/write": str(bool(m.get("RW", True))).lower()} if action == "mount" else {}
                self.engine.events.emit("volume", action, m["Name"], container=c.id, driver=m.get("Driver") or "local",
                                        **extra)

    def volume_users(self, name: str) -> list[str]:
        return [c.id for c in self.store.all() if any(m.get("Name") == name for m in c.mounts)]

    def get(self, ref: str) -> Container:
        return self.refresh(self.store.get(ref))

    def watch(self):
        """A StateWatch over this engine's containers (the caller closes it)."""
        from dockyard.containers.watch import StateWatch
        return StateWatch(self.engine.db.path, Path(state_dir(self.engine.run_dir, "")))

    def list(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[Container]:
        from dockyard.containers.filters import matches
        out = []
        for c in self.store.all():
            c = self.refresh(c)
            if not all and not c.running:  # filters narrow the running ones, as dockerd's do
                continue
            if filters and not matches(self, c, filters):
                continue
            out.append(c)
        return out

    def health_event(self, ref: str, run_id: str, new_status: str) -> None:
        """The shim's health hook: the container's health status changed."""
        c = self.store.find(ref)
        if c is not None and c.run_id == run_id:
            self.event(c, health.event_action(new_status))

    def _runtime(self, c: Container):
        from dockyard.runtime.oci import get_runtime
        runtime = c.host_config.get("Runtime") or "dockyard"
        return get_runtime("dockyard" if builtin(runtime) else runtime, str(self.runtime_root(runtime)))

    def attach_socket(self, ref: str) -> str:
        c = self.get(ref)
        if not c.running:
            raise Conflict("You cannot attach to a stopped container, start it first")
        self.event(c, "attach")
        return str(self.shim_dir(c.id) / "attach.sock")

    def resize(self, ref: str, h: int, w: int) -> None:
        from dockyard.runtime.shim import protocol
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.config.get("Tty"):  # without a terminal there is nothing to size: dockerd says nothing either
            protocol.resize(str(self.shim_dir(c.id)), h, w)
        self.event(c, "resize", height=str(h), width=str(w))

    def logs(self, ref: str, *, stdout: bool = True, stderr: bool = True, since: float = 0.0, until: float = 0.0,
             timestamps: bool = False, tail: str = "all", follow: bool = False):
        """Entries of the json-file log: (stream, time, data); `follow` ends when the container does."""
        from dockyard.containers import logs
        c = self.get(ref)
        if not keeps_log(c.host_config):
            raise ReadingUnsupported()
        def running() -> bool:
            try:
                return self.get(c.id).running
            except NotFound:  # removed (docker-py's run(remove=True) does so at the exit)
                return False
        return logs.read(self.log_path(c), stdout=stdout, stderr=stderr, since=since, until=until, tail=str(tail),
                         follow=follow, running=running)

    def top(self, ref: str, ps_args: str = "") -> dict:
        """`docker top`: the host's `ps` output, only the lines of the container's processes."""
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        table = top_table(self.pids(c), ps_args)
        self.event(c, "top")
        return table

    def inspect(self, ref: str) -> dict:
        from dockyard.containers.views import inspect
        return inspect(self, self.get(ref))

    def summary(self, c: Container) -> dict:
        from dockyard.containers.views import summary
        return summary(self, c)

    def changes(self, ref: str) -> list[dict]:
        from dockyard.containers import files
        return files.changes(self, ref)

    def export(self, ref: str):
        """The container's filesystem as a tar stream (read it to the end, or close it)."""
        from dockyard.containers import files
        self.event(self.get(ref), "export")
        return files.produced(lambda out: files.export(self, ref, out))

    def archive_get(self, ref: str, path: str):
        """(stat of `path`, tar stream of it), for `cp` out of the container."""
        from dockyard.containers import files
        st = self.archive_stat(ref, path)
        self.event(self.get(ref), "archive-path", path=path)
        return st, files.produced(lambda out: files.archive_get(self, ref, path, out))

    def archive_stat(self, ref: str, path: str) -> dict:
        from dockyard.containers import files
        with files.container_root(self, self.get(ref)) as root:
            return files.path_stat(root, path, ref)

    def archive_put(self, ref: str, path: str, data, *, no_overwrite: bool = False) -> None:
        from dockyard.containers import files
        files.archive_put(self, ref, path, data)
        self.event(self.get(ref), "extract-to-dir", path=path)

    def commit(self, ref: str, **kw) -> str:
        from dockyard.containers import files
        return files.commit(self, ref, **kw)

    def stats(self, ref: str) -> dict:
        from dockyard.containers.stats import sample
        return sample(self, self.get(ref))

    def exec_resize(self, exec_id: str, h: int, w: int) -> None:
        self.execs.resize(exec_id, h, w)

    @property
    def execs(self):
        from dockyard.containers.execs import Execs
        if not hasattr(self, "_execs"):
            self._execs = Execs(self)
        return self._execs

    def exec_create(self, ref: str, body: dict) -> str:
        return self.execs.create(ref, body)

    def exec_start(self, exec_id: str, **kw) -> int:
        return self.execs.start(exec_id, **kw)

    def exec_inspect(self, exec_id: str) -> dict:
        return self.execs.inspect(exec_id)

    def reconcile(self) -> None:
        """Compare the records with the kernel: dead shims get their containers ended, and
        network state of containers that no longer exist is dropped."""
        live = set()
        for c in self.store.all():
            c = self.refresh(c)
            if c.running:
                live.add(c.id)
        self.engine.networks.reconcile(live, in_use=self.in_use)

    def in_use(self, cid: str) -> bool:
        """Whether the container runs now, or a start or release of it is under way in some
        process (its lifecycle lock is held), or it is a build step's that runs: what a
        reconcile that listed the running containers earlier asks before it releases a network."""
        if cid.startswith("build-"):
            from dockyard.builder.unfinished import in_progress
            return in_progress(self.engine.root, cid)
        row = self.engine.db.one("SELECT state FROM containers WHERE id=?", (cid,))
        if row and json.loads(row[0]).get("Status") in ("running", "paused", "restarting"):
            return True
        import fcntl
        try:
            fd = self.lifecycle_file(cid)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False
