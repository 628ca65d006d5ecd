"""Many API clients and the CLI changing containers at once: all succeed, nothing leaks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
CLIENTS = 20


def test_api_clients_and_cli_side_by_side(api, busybox, dy):
    import docker

    def api_client(i: int) -> int:
        low = docker.APIClient(base_url=api.url, timeout=120)
        c = low.create_container("busybox", ["sh", "-c", f"exit {i % 7}"], name=f"conc{i}")
        low.start(c["Id"])
        code = low.wait(c["Id"])["StatusCode"]
        low.remove_container(c["Id"], force=True)
        return code

    cli_errors: list[str] = []

    def cli_side() -> None:
        for i in range(4):
            r = dy("run", "--rm", "--name", f"cli{i}", "busybox", "true", check=False)
            if r.code != 0:
                cli_errors.append(r.err)

    cli = threading.Thread(target=cli_side)
    cli.start()
    with ThreadPoolExecutor(CLIENTS) as pool:
        codes = list(pool.map(api_client, range(CLIENTS)))
    cli.join(180)
    assert codes == [i % 7 for i in range(CLIENTS)]
    assert cli_errors == []
    assert "database is locked" not in api.log and "Traceback" not in api.log, api.log
    assert dy.engine().containers.list(all=True) == []
    mounts = Path("/proc/mounts").read_text()
    assert str(dy.run_dir) not in mounts and str(dy.root) not in mounts
