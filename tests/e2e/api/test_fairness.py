"""Fairness on one root: while `dockyard serve` is busy with 50 API clients changing containers,
a CLI on the same root keeps running containers at a reasonable pace.

The bound is loose on purpose (fairness, not speed): before the fix a CLI `run --rm` took
about 5 s under this load on 2 cores, queued behind every server thread waiting on the
root's network lock; a starved CLI takes far longer, or never finishes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.apiload import api_load
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root
CLIENTS = 50
CLI_RUNS = 3
CLI_BOUND = 30.0  # seconds each CLI run may take under the load
LOAD_DEADLINE = 120.0  # the API clients stop by then whatever happens


def test_cli_keeps_its_pace_beside_50_busy_api_clients(api, busybox, dy):
    took: list[float] = []
    with api_load(api.url, CLIENTS, LOAD_DEADLINE, prefix="fair") as load:
        wait_for(lambda: load.total or load.errors, LOAD_DEADLINE, "the API clients to run a container")
        for i in range(CLI_RUNS):
            t0 = time.monotonic()
            r = dy("run", "--rm", "--name", f"cli{i}", "busybox", "true", check=False, timeout=int(CLI_BOUND) * 4)
            took.append(time.monotonic() - t0)
            assert r.code == 0, r.err
    assert load.errors == []
    assert all(t < CLI_BOUND for t in took), f"CLI runs took {took} s under the load (bound {CLI_BOUND} s each)"
    assert "database is locked" not in api.log and "Traceback" not in api.log, api.log
    assert dy.engine().containers.list(all=True) == []
    mounts = Path("/proc/mounts").read_text()
    assert str(dy.run_dir) not in mounts and str(dy.root) not in mounts
