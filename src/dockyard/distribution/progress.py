"""Per-blob transfer progress: rich bars on a terminal, plain status lines otherwise, nothing when quiet.

Pull and push report through the small `Progress` protocol, keyed by a blob's short id, so
they never care how (or whether) progress is shown. Methods are called from worker threads;
rich's Progress is thread-safe, and the line printer takes a lock.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from dockyard.oci.digest import short_id

if TYPE_CHECKING:
    from rich.console import Console


class Progress(Protocol):
    """What a transfer reports: a blob starts (possibly part-way), advances, and ends with a status."""

    def start(self, digest: str, status: str, total: int | None, completed: int = 0) -> None: ...

    def advance(self, digest: str, nbytes: int) -> None: ...

    def finish(self, digest: str, status: str) -> None: ...


class QuietProgress:
    """`--quiet`: report nothing."""

    def start(self, digest: str, status: str, total: int | None, completed: int = 0) -> None:
        pass

    def advance(self, digest: str, nbytes: int) -> None:
        pass

    def finish(self, digest: str, status: str) -> None:
        pass


class RichProgress:
    """Docker-style `abc123def456: Downloading [====>   ]` rows; use as a context manager around a transfer.

    On a terminal each blob gets a live bar; elsewhere (logs, CI) only the final
    `abc123def456: Pull complete` line per blob is printed.
    """

    def __init__(self, console: "Console | None" = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress as Bars, TextColumn, TransferSpeedColumn

        self.console = console or Console()
        self._live = self.console.is_terminal
        self._bars = Bars(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                          console=self.console, transient=False)
        self._tasks: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> "RichProgress":
        if self._live:
            self._bars.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._live:
            self._bars.stop()

    def start(self, digest: str, status: str, total: int | None, completed: int = 0) -> None:
        label = f"{short_id(digest)}: {status}"
        with self._lock:
            task = self._tasks.get(digest)
            if task is None:
                self._tasks[digest] = self._bars.add_task(label, total=total, completed=completed)
            else:
                self._bars.update(task, description=label, total=total, completed=completed)

    def advance(self, digest: str, nbytes: int) -> None:
        task = self._tasks.get(digest)
        if task is not None:
            self._bars.advance(task, nbytes)

    def finish(self, digest: str, status: str) -> None:
        label = f"{short_id(digest)}: {status}"
        with self._lock:
            task = self._tasks.get(digest)
            if task is None:
                task = self._tasks[digest] = self._bars.add_task(label, total=None)
            total = next(t.total for t in self._bars.tasks if t.id == task)
            self._bars.update(task, description=label, completed=total or 0)
            if not self._live:
                self.console.print(label, highlight=False)
