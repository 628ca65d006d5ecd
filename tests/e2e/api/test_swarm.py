"""Swarm endpoints answer as a Docker engine outside any swarm: the docker CLI, docker-py and the
tools built on them (compose, testcontainers) probe and tidy up with these calls."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root

NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
               "to connect this node to swarm and try again.")


def test_the_cli_sees_a_node_outside_any_swarm(api):
    for args in (["node", "ls"], ["service", "ls"], ["secret", "ls"], ["config", "ls"], ["node", "inspect", "self"],
                 ["service", "rm", "web"]):
        res = api.docker(*args, check=False)
        assert (res.code, res.err.strip()) == (1, f"Error response from daemon: {NOT_MANAGER}"), args
    res = api.docker("swarm", "unlock-key", check=False)
    assert res.code == 1 and res.err.strip().endswith(f"Error response from daemon: {NOT_MANAGER}")
    for args in (["swarm", "leave"], ["swarm", "leave", "--force"]):
        res = api.docker(*args, check=False)
        assert (res.code, res.err.strip()) == (1, "Error response from daemon: This node is not part of a swarm")
    res = api.docker("swarm", "init", check=False)
    assert res.code == 1 and "does not implement swarm mode" in res.err
    assert api.docker("info", "--format", "{{.Swarm.LocalNodeState}}").out.strip() == "inactive"


def test_docker_py_gets_503_with_dockerds_messages(api):
    import docker

    client = api.client()
    assert client.swarm.leave(force=True) is True  # the cleanup call: docker-py takes a 503 as "not in a swarm"
    with pytest.raises(docker.errors.APIError) as leave:
        client.swarm.leave()
    assert leave.value.status_code == 503 and leave.value.explanation == "This node is not part of a swarm"
    for call in (client.nodes.list, client.services.list, client.secrets.list, client.configs.list,
                 lambda: client.api.tasks()):
        with pytest.raises(docker.errors.APIError) as err:
            call()
        assert err.value.status_code == 503 and err.value.explanation == NOT_MANAGER
    with pytest.raises(docker.errors.APIError) as err:
        client.api.inspect_swarm()
    assert err.value.status_code == 503
    with pytest.raises(docker.errors.APIError) as err:
        client.api.nodes(filters={"role": "manager"})
    assert err.value.status_code == 503
    assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
