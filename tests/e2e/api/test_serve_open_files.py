"""`dockyard serve` holds an fd per running container (the pidfd of its shim) beside its clients'
connections: with 1,000 containers running, the usual soft limit of 1,024 open files ran out.
It takes the hard limit as its soft one, as dockerd does."""

from __future__ import annotations

import resource

import pytest

pytestmark = pytest.mark.root
HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]


@pytest.fixture
def serve_prefix() -> tuple[str, ...]:
    return ("prlimit", f"--nofile=256:{HARD}")  # the hard limit as it is (raising it takes CAP_SYS_RESOURCE)


def _open_files(pid: int) -> tuple[str, str]:
    with open(f"/proc/{pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max open files"))
    return tuple(line.split()[3:5])


def test_the_server_takes_the_hard_limit_of_open_files_as_its_soft_one(api):
    assert HARD > 256
    assert _open_files(api.proc.pid) == (str(HARD), str(HARD))
    assert api.client().ping()
