"""SSH forwarding in a BuildKit build: compose's `ssh: [default]` forwards the user's agent;
`RUN --mount=type=ssh` sees it at $SSH_AUTH_SOCK, each connection carried over the client's
session. A static helper (agentls.c) asks the agent for its identities inside the step."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.api.conftest import install_compose, run_docker
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root


@pytest.fixture
def agent(tmp_path: Path):
    """A real ssh-agent of this test, holding one key with a known comment; yields its socket."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(sock.exists, 10, "the agent's socket")
        key = tmp_path / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "forwarded-key-7Q", "-f", str(key)],
                       check=True)
        subprocess.run(["ssh-add", str(key)], env={"SSH_AUTH_SOCK": str(sock)}, check=True, capture_output=True)
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


def test_ssh_agent_forwarded_into_a_run_step(api, busybox, agent, tmp_path: Path):
    project = tmp_path / "p"
    (project / "svc").mkdir(parents=True)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(project / "svc" / "agentls"),
                    str(Path(__file__).with_name("agentls.c"))], check=True)
    (project / "svc" / "Dockerfile").write_text(
        "FROM busybox\nCOPY agentls /agentls\nRUN --mount=type=ssh /agentls > /agents && echo $SSH_AUTH_SOCK > /sock\n"
        "RUN --mount=type=ssh,id=other,required=true true\n")
    (project / "compose.yaml").write_text(
        "services:\n  svc:\n    build: {context: ./svc, ssh: [default]}\n    image: ssh/svc\n")
    env = {**{k: v for k, v in api.env.items() if k != "DOCKER_BUILDKIT"}, "SSH_AUTH_SOCK": str(agent)}
    install_compose(Path(env["DOCKER_CONFIG"]))
    compose = ["compose", "--project-directory", str(project), "-p", "ssh", "build"]
    refused = run_docker(env, compose, None, False, 120)  # the second RUN wants an agent not forwarded
    assert refused.code != 0 and "no SSH agent 'other' was forwarded" in refused.err, refused.err
    (project / "svc" / "Dockerfile").write_text(
        "FROM busybox\nCOPY agentls /agentls\nRUN --mount=type=ssh /agentls > /agents && echo $SSH_AUTH_SOCK > /sock\n")
    run_docker(env, compose, None, True, 120)
    assert api.docker("run", "--rm", "ssh/svc", "cat", "/agents").out == "identities: 1\nforwarded-key-7Q\n"
    assert api.docker("run", "--rm", "ssh/svc", "cat", "/sock").out == "/run/buildkit/ssh_agent.0\n"
