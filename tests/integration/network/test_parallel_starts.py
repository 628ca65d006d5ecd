"""Containers started while `system check --repair` runs again and again on the same root (as a
server's start or an operator may): every one keeps the network its start made. A reconcile
lists the running containers first and releases the networks of the others; a start under way
in another process (network made, state not yet saved) must count as running, and so must a
build step that runs."""

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


def test_a_server_start_keeps_the_network_of_a_running_build_step(dy, busybox, tmp_path):
    import os

    from tests.e2e.api.conftest import DOCKER, start_server
    from tests.integration.build.test_killed_build import _wait_for_run

    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN sleep 3 && cat /sys/class/net/eth0/operstate\n")
    server = start_server(dy, tmp_path / "d.sock")
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'd.sock'}", "DOCKER_BUILDKIT": "0",
           "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    build = subprocess.Popen([DOCKER, "build", "--network", "bridge", str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        step = os.path.basename(_wait_for_run(dy, build)[0])
        assert dy.engine().networks.attachment(step) is not None
        second = start_server(dy, tmp_path / "d2.sock")  # its start reconciles the root's networks
        second.terminate()
        second.wait(30)
        assert dy.engine().networks.attachment(step) is not None, "a server's start released the step's network"
        out, _ = build.communicate(timeout=120)
        assert build.returncode == 0 and "up" in out.split(), out
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
        server.terminate()
        server.wait(30)
    assert "repaired:" not in dy("system", "check", "--repair").out
