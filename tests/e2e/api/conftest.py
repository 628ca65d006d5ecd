"""A real `dockyard serve` per test, and the real docker CLI and docker-py pointed at it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD, Dockyard, Result

DOCKER = "/usr/local/bin/docker"


@dataclass
class Api:
    sock: Path
    env: dict[str, str]   # DOCKER_HOST points at our socket, never at the host's dockerd
    proc: subprocess.Popen

    @property
    def log(self) -> str:
        return (self.sock.parent / "serve.log").read_text()

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    def docker(self, *args: str, input: bytes | str | None = None, check: bool = True, timeout: int = 60) -> Result:
        text = not isinstance(input, bytes)
        p = subprocess.run([DOCKER, *args], input=input, capture_output=True, text=text, env=self.env, timeout=timeout)
        out, err = (p.stdout, p.stderr) if text else (p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {p.returncode}\nstdout: {out}\nstderr: {err}")
        return Result(p.returncode, out, err)

    def client(self):
        import docker
        return docker.DockerClient(base_url=self.url, timeout=60)


def start_server(dy: Dockyard, sock: Path, *options: str) -> subprocess.Popen:
    """`dockyard [OPTIONS] serve` on `sock`; its log goes to serve.log beside the socket."""
    with open(sock.parent / "serve.log", "w") as log:
        proc = subprocess.Popen([DOCKYARD, *options, "serve", "-H", f"unix://{sock}"], env=dy.env,
                                stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    if "API listening on" not in line:
        proc.kill()
        raise AssertionError(f"dockyard serve did not start: {line!r} {(sock.parent / 'serve.log').read_text()}")
    return proc


@pytest.fixture
def serve_options() -> tuple[str, ...]:
    """dockyard's global options for the server; a test module may override this fixture."""
    return ()


@pytest.fixture
def api(dy: Dockyard, tmp_path: Path, serve_options):
    sock = tmp_path / "d.sock"
    proc = start_server(dy, sock, *serve_options)
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path / "docker-config"),
           "DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"}
    yield Api(sock, env, proc)
    containers = dy.engine().containers
    for c in containers.list(all=True):  # whatever a failed test left behind
        containers.remove(c.id, force=True, volumes=True)
    proc.terminate()
    try:
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not sock.exists(), "the server left its socket behind"


def container_service_has(*methods: str) -> str | None:
    """Why container steps must be skipped, or None when the ContainerService offers them all."""
    try:
        from dockyard.containers.service import ContainerService
    except ImportError:
        return "dockyard.containers.service does not exist yet"
    missing = [m for m in methods if not hasattr(ContainerService, m)]
    return f"ContainerService lacks {', '.join(missing)}" if missing else None
