"""How a build reports itself: plain numbered lines (logs, CI, pipes), a live view on a
terminal, or nothing (`-q`). Steps of parallel stages report from several threads, so every
method takes the one lock."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Step:
    num: int
    label: str
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0
    status: str = "running"  # running | done | cached | error
    tail: deque = field(default_factory=lambda: deque(maxlen=6))

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started


class Progress:
    """The quiet reporter, and the bookkeeping the others share."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.steps: list[Step] = []
        self.stop = threading.Event()  # set (by `dockyard build` on SIGTERM) to cancel the build

    def start(self, label: str) -> Step:
        with self.lock:
            step = Step(len(self.steps) + 1, label)
            self.steps.append(step)
            self._started(step)
            return step

    def output(self, step: Step, data: bytes, stream: int = 1) -> None:
        """What a step's command wrote to its stdout (1) or stderr (2)."""
        text = data.decode("utf-8", "replace")
        with self.lock:
            for line in text.splitlines():
                step.tail.append(line)
                self._line(step, line)

    def finish(self, step: Step, status: str, message: str = "") -> None:
        with self.lock:
            step.status, step.ended = status, time.monotonic()
            self._finished(step, message)

    def warning(self, title: str, text: str) -> None:
        """A warning about the build as a whole, shown as a step of its own."""
        self.finish(self.start(title), "done", text)

    def container(self, step: Step, container_id: str, removed: bool = False) -> None:
        """A step's container started, or (`removed`) went away; only the classic builder's
        output tells these."""

    def cancelled(self) -> bool:
        """Whether whoever watches has gone, so the build should stop before its next step."""
        return self.stop.is_set()

    def stage_built(self, image_id: str) -> None:
        """A stage is done, and this is its image; only the classic builder's output tells it."""

    def close(self) -> None:
        """Called once the build ends, whatever the outcome."""

    def _started(self, step: Step) -> None: ...

    def _line(self, step: Step, line: str) -> None: ...

    def _finished(self, step: Step, message: str) -> None: ...


class PlainProgress(Progress):
    """BuildKit's `--progress=plain`: `#N label`, `#N 0.123 output`, `#N CACHED`, `#N DONE 0.2s`."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out

    def _emit(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _started(self, step: Step) -> None:
        self._emit(f"#{step.num} {step.label}")

    def _line(self, step: Step, line: str) -> None:
        self._emit(f"#{step.num} {step.elapsed:.3f} {line}")

    def _finished(self, step: Step, message: str) -> None:
        if step.status == "cached":
            self._emit(f"#{step.num} CACHED")
        elif step.status == "error":
            self._emit(f"#{step.num} ERROR: {message}")
        else:
            if message:
                self._emit(f"#{step.num} {message}")
            self._emit(f"#{step.num} DONE {step.elapsed:.1f}s")
        self._emit("")


class TtyProgress(Progress):
    """A live view: every step with its time, and the last lines of output of running ones."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        from rich.console import Console
        from rich.live import Live

        self.began = time.monotonic()
        self.console = Console(file=out)
        self.live = Live(console=self.console, refresh_per_second=8, get_renderable=self._render, transient=False)
        self.live.start()

    def _render(self):
        from rich.text import Text

        with self.lock:
            done = sum(s.status != "running" for s in self.steps)
            text = Text(f"[+] Building {time.monotonic() - self.began:.1f}s ({done}/{len(self.steps)})\n", style="bold")
            width = max(self.console.width - 12, 20)
            for step in self.steps:
                mark = {"cached": " CACHED", "error": " ERROR"}.get(step.status, "")
                style = {"running": "blue", "error": "red"}.get(step.status, "")
                label = f" => {step.label}{mark}"
                text.append(f"{label[:width]:<{width}} {step.elapsed:6.1f}s\n", style=style)
                if step.status in ("running", "error"):
                    for line in step.tail:
                        text.append(f" => => {line}"[: width + 8] + "\n", style="dim")
            return text

    def close(self) -> None:
        self.live.stop()


def make_progress(mode: str, quiet: bool, out: TextIO | None = None) -> Progress:
    """`auto` picks the live view on a terminal and plain lines elsewhere."""
    out = out or sys.stderr
    if quiet:
        return Progress()
    if mode == "tty" or (mode == "auto" and out.isatty()):
        return TtyProgress(out)
    return PlainProgress(out)
