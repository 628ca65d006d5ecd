"""Logs followed over the API are all delivered even when the container is removed the
moment it exits: docker-py's `containers.run(remove=True)` opens the follow stream, waits,
removes, and only then reads the stream (it came back empty about once in ten runs)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_a_followed_log_outlives_the_removal(api, busybox):
    client = api.client().api
    for _ in range(4):
        cid = client.create_container(
            "busybox", ["sh", "-c", "sleep 0.2; echo hello; echo world"],
            host_config=client.create_host_config(network_mode="none"))["Id"]
        client.start(cid)
        stream = client.logs(cid, stream=True, follow=True)  # not read until removed
        assert client.wait(cid)["StatusCode"] == 0
        client.remove_container(cid)
        assert b"".join(stream) == b"hello\nworld\n"


def test_docker_py_run_with_remove_returns_the_output(api, busybox):
    client = api.client()
    for _ in range(2):
        assert client.containers.run("busybox", ["sh", "-c", "sleep 0.2; echo hello"],
                                     remove=True, network_mode="none") == b"hello\n"
    assert client.containers.list(all=True) == []
