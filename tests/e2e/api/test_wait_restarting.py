"""`wait` on a container its restart policy runs again: Docker's waiters return at its first
exit, with that exit's code, while the container goes on restarting."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_wait_returns_at_the_first_exit_of_a_restart_always_container(api, busybox):
    client = api.client()
    c = client.containers.create("busybox", ["sh", "-c", "sleep 1; exit 3"], restart_policy={"Name": "always"})
    c.start()
    assert c.wait(timeout=30) == {"StatusCode": 3, "Error": None}
    c.reload()
    assert c.attrs["RestartCount"] >= 0 and c.status in ("running", "restarting")
    # the docker CLI: `wait` and a foreground `run` both return at the first exit
    assert api.docker("wait", c.id, timeout=30).out.strip() == "3"
    r = api.docker("run", "--restart", "always", "--name", "again", "busybox", "sh", "-c", "exit 5",
                   check=False, timeout=30)
    assert r.code == 5
    client.api.remove_container("again", force=True)
    c.remove(force=True)
