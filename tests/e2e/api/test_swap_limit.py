"""Memory+swap limits on a kernel without swap accounting, as dockerd handles them: the
create answers with dockerd's warning (the docker CLI prints it), the limit is dropped
(MemorySwap -1), memory alone is limited, and `info` says SwapLimit false.

This host accounts swap, so the server runs in a private mount namespace where the v1
memory hierarchy's memory.memsw.limit_in_bytes is hidden under /dev/null. Containers run
with --network none and are removed through the server, so nothing of that namespace
needs to be reached from outside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD
from dockyard.runtime import cgroups

pytestmark = pytest.mark.root

MEMSW = "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
WARNING = ("WARNING: Your kernel does not support swap limit capabilities or the cgroup is not "
           "mounted. Memory limited without swap.")
HIDE_MEMSW = ("unshare", "--mount", "--propagation", "private", "sh", "-c",
              f'mount --bind /dev/null {MEMSW} && exec "$@"', "sh")

if cgroups.is_unified() or not os.path.exists(MEMSW):
    pytest.skip("needs a v1 memory hierarchy with swap accounting to hide", allow_module_level=True)


@pytest.fixture
def serve_prefix() -> tuple[str, ...]:
    return HIDE_MEMSW


def test_docker_cli_warns_and_limits_memory_alone(api, busybox, dy):
    info = api.docker("info")
    assert "WARNING: No swap limit support" in info.err
    assert api.docker("info", "--format", "{{.SwapLimit}}").out.strip() == "false"

    ran = api.docker("run", "--rm", "--network", "none", "-m", "32m", "--memory-swap", "64m",
                     "busybox", "echo", "hi")
    assert ran.out == "hi\n" and WARNING in ran.err.splitlines()
    # no --memory-swap: nothing to warn about (dockerd's default swap is silently dropped)
    plain = api.docker("run", "--rm", "--network", "none", "-m", "32m", "busybox", "true")
    assert "WARNING" not in plain.err

    started = api.docker("run", "-d", "--network", "none", "-m", "32m", "--memory-swap", "64m",
                         "busybox", "sleep", "60")
    cid = started.out.strip()
    assert WARNING in started.err.splitlines()
    try:
        assert api.docker("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}",
                          cid).out.split() == [str(32 << 20), "-1"]
        group = Path(f"/sys/fs/cgroup/memory/{dy.tag}/{cid}")
        assert (group / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
        # the group's own file (not hidden): memory+swap left unlimited
        assert int((group / "memory.memsw.limit_in_bytes").read_text()) > 1 << 60
        updated = api.docker("update", "-m", "48m", "--memory-swap", "96m", cid)
        assert updated.out.splitlines() == [cid, WARNING.removeprefix("WARNING: ")]
        assert (group / "memory.limit_in_bytes").read_text().strip() == str(48 << 20)
        assert int((group / "memory.memsw.limit_in_bytes").read_text()) > 1 << 60
    finally:
        api.docker("rm", "-f", cid)


def test_engine_api_create_carries_the_warning(api, busybox):
    client = api.client()
    response = client.api.create_container(
        "busybox", ["true"], host_config=client.api.create_host_config(
            mem_limit=32 << 20, memswap_limit=64 << 20, network_mode="none"))
    try:
        assert response["Warnings"] == [WARNING.removeprefix("WARNING: ")]
    finally:
        client.api.remove_container(response["Id"], force=True)


def test_dockyard_cli_warns(dy, busybox):
    import subprocess

    p = subprocess.run([*HIDE_MEMSW, DOCKYARD, "run", "--rm", "--network", "none", "-m", "32m",
                        "--memory-swap", "64m", "busybox", "echo", "hi"], capture_output=True,
                       text=True, env=dy.env, timeout=120)
    assert (p.returncode, p.stdout) == (0, "hi\n"), p.stderr
    assert WARNING in p.stderr.splitlines()
    created = subprocess.run([*HIDE_MEMSW, DOCKYARD, "create", "--name", "limited", "-m", "32m",
                              "--memory-swap", "64m", "busybox", "true"], capture_output=True,
                             text=True, env=dy.env, timeout=120)
    assert created.returncode == 0 and WARNING in created.stderr.splitlines(), created.stderr
    updated = subprocess.run([*HIDE_MEMSW, DOCKYARD, "update", "--memory-swap", "96m", "limited"],
                             capture_output=True, text=True, env=dy.env, timeout=120)
    assert updated.stdout.splitlines() == ["limited", WARNING.removeprefix("WARNING: ")], updated
    dy("rm", "limited")
