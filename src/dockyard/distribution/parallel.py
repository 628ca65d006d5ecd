"""Running blob transfers side by side, failing fast.

Threads rather than asyncio: see `client.py`. The first failure sets the shared cancel
event (transfers check it between chunks and stop, keeping what they have), tasks not yet
started are dropped, and that first error is raised once every running task has stopped.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Callable, TypeVar

T = TypeVar("T")


def run_parallel(tasks: list[Callable[[threading.Event], T]], max_workers: int) -> list[T]:
    """Run `task(cancel)` for each task, at most `max_workers` at once; results in task order."""
    if not tasks:
        return []
    cancel = threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="transfer") as pool:
        futures = [pool.submit(lambda t=t: None if cancel.is_set() else t(cancel)) for t in tasks]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise failed[0].exception()  # type: ignore[misc]
    return [f.result() for f in futures]
