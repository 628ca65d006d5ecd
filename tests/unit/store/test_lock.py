"""store.lock.exclusive: a process's threads queue among themselves, so the kernel sees one
waiter per process on the flock, however many threads want it."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from dockyard.store.lock import exclusive

SYS_FLOCK, SYS_FUTEX = 73, 202  # x86_64
THREADS = 5


def _blocked(tid: int) -> bool:
    """The thread sleeps in flock(2) or on a futex (a Python lock)."""
    try:
        first = Path(f"/proc/self/task/{tid}/syscall").read_text().split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return first in (str(SYS_FLOCK), str(SYS_FUTEX))


def _flock_waiters(path: Path) -> int:
    """Blocked flock requests on `path`, as the kernel lists them in /proc/locks."""
    ino = str(os.stat(path).st_ino)
    n = 0
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 6 and parts[1] == "->" and parts[2] == "FLOCK" and parts[6].rsplit(":", 1)[-1] == ino:
            n += 1
    return n


def test_threads_of_one_process_wait_on_the_flock_one_at_a_time(tmp_path):
    path = tmp_path / "network.lock"
    holder = open(path, "a")  # another open file: to flock, it is another process
    fcntl.flock(holder, fcntl.LOCK_EX)
    tids: list[int] = []
    inside, most = [0], [0]
    guard = threading.Lock()

    def want() -> None:
        tids.append(threading.get_native_id())
        with exclusive(path):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=want) for _ in range(THREADS)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while not (len(tids) == THREADS and all(_blocked(tid) for tid in tids) and _flock_waiters(path) >= 1):
            assert time.monotonic() < deadline, "the threads never blocked on the lock"
            time.sleep(0.01)
        assert _flock_waiters(path) == 1
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        holder.close()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert most[0] == 1
