"""Containers started while `system check --repair` runs again and again on the same root (as a
server's start or an operator may): every one keeps the network its start made. A reconcile
lists the running containers first and releases the networks of the others; a start under way
in another process (network made, state not yet saved) must count as running."""

from __future__ import annotations

import subprocess
import threading

import pytest

from tests.conftest import DOCKYARD

pytestmark = pytest.mark.root

STARTS = 6


def test_repairs_beside_starts_leave_every_started_network(dy, busybox):
    stop = threading.Event()
    repairs: list[subprocess.CompletedProcess] = []

    def repair_loop() -> None:
        while not stop.is_set():
            repairs.append(subprocess.run([DOCKYARD, "system", "check", "--repair"], env=dy.env,
                                          capture_output=True, text=True))

    repairer = threading.Thread(target=repair_loop)
    repairer.start()
    try:
        starts = [dy.popen("run", "-d", "busybox", "sleep", "600", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True) for _ in range(STARTS)]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in starts]
    finally:
        stop.set()
        repairer.join(120)
    assert all(code == 0 for _, _, code in results), results
    assert repairs and all(r.returncode == 0 for r in repairs), [r.stderr for r in repairs if r.returncode]
    for out, _, _ in results:
        cid = out.strip()
        state = dy("exec", cid, "cat", "/sys/class/net/eth0/operstate").out.strip()
        assert state == "up", f"container {cid[:12]} lost its network to a repair"
    assert "repaired:" not in dy("system", "check", "--repair").out  # and nothing is left to repair
