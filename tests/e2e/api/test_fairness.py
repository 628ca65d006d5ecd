"""Fairness on one root: while `dockyard serve` is busy with 50 API clients changing containers,
a CLI on the same root keeps running containers at a reasonable pace.

The bound is loose on purpose (fairness, not speed): before the fix a CLI `run --rm` took
about 5 s under this load on 2 cores, queued behind every server thread waiting on the
root's network lock; a starved CLI takes far longer, or never finishes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
CLIENTS = 50
CLI_RUNS = 3
CLI_BOUND = 30.0  # seconds each CLI run may take under the load
LOAD_DEADLINE = 120.0  # the API clients stop by then whatever happens


def test_cli_keeps_its_pace_beside_50_busy_api_clients(api, busybox, dy):
    import docker

    stop = threading.Event()
    loops = [0] * CLIENTS
    errors: list[str] = []
    started = time.monotonic()

    def api_client(i: int) -> None:
        low = docker.APIClient(base_url=api.url, timeout=LOAD_DEADLINE)
        try:
            while not stop.is_set() and time.monotonic() - started < LOAD_DEADLINE:
                low.containers(all=True)
                c = low.create_container("busybox", ["true"], name=f"fair{i}-{loops[i]}")
                low.start(c["Id"])
                low.inspect_container(c["Id"])
                low.remove_container(c["Id"], force=True)
                loops[i] += 1
        except Exception as e:  # reported below, with the client's number
            errors.append(f"client {i}: {e}")

    clients = [threading.Thread(target=api_client, args=(i,)) for i in range(CLIENTS)]
    for t in clients:
        t.start()
    took: list[float] = []
    try:
        # the load is on once the clients have made containers
        while not any(loops) and not errors and time.monotonic() - started < LOAD_DEADLINE:
            time.sleep(0.05)
        for i in range(CLI_RUNS):
            t0 = time.monotonic()
            r = dy("run", "--rm", "--name", f"cli{i}", "busybox", "true", check=False, timeout=int(CLI_BOUND) * 4)
            took.append(time.monotonic() - t0)
            assert r.code == 0, r.err
    finally:
        stop.set()
        for t in clients:
            t.join(LOAD_DEADLINE)
    assert errors == []
    assert sum(loops) > 0, "the API clients never got a container through"
    assert all(t < CLI_BOUND for t in took), f"CLI runs took {took} s under the load (bound {CLI_BOUND} s each)"
    assert "database is locked" not in api.log and "Traceback" not in api.log, api.log
    assert dy.engine().containers.list(all=True) == []
    mounts = Path("/proc/mounts").read_text()
    assert str(dy.run_dir) not in mounts and str(dy.root) not in mounts
