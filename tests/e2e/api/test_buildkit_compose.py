"""Docker Compose v2 (the official binary) builds against `dockyard serve` with its default
settings: BuildKit over POST /grpc and /session, no DOCKER_BUILDKIT=0. A multi-service project
with multi-stage, build args, a named target, a secret, a cache mount and .dockerignore; the
images run; a second build is all CACHED."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.api.conftest import install_compose
from tests.integration.distribution.test_cli_push_pull import own_registry  # noqa: F401 - a fixture

pytestmark = pytest.mark.root

COMPOSE = """\
services:
  app:
    build:
      context: ./app
      target: final
      args:
        GREETING: hello-from-args
      secrets: [token]
    image: bk/app:1
  tool:
    build:
      context: ./tool
      dockerfile: Tool.dockerfile
      extra_hosts: ["db.internal=10.9.8.7"]
      network: none
      labels: {com.example.team: builders}
      additional_contexts: {toolbox: "docker-image://busybox", extra: ./extra}
    image: bk/tool:1
secrets:
  token:
    file: ./token.txt
"""
APP = """\
FROM busybox AS base
ARG GREETING
RUN echo "$GREETING" > /greeting
FROM base AS final
RUN --mount=type=secret,id=token cp /run/secrets/token /token-copy
RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/runs; wc -l < /cache/runs > /cache-runs'
COPY . /src/
CMD ["cat", "/greeting"]
FROM base AS unused
RUN exit 7
"""
TOOL = """\
FROM busybox
COPY --from=toolbox /bin/busybox /from-named-context
COPY --from=extra note.txt /note.txt
RUN echo tool > /tool && grep db.internal /etc/hosts > /hosts && ls /sys/class/net > /nets
"""


def _project(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "tool").mkdir()
    (root / "compose.yaml").write_text(COMPOSE)
    (root / "token.txt").write_text("s3cret-value")
    (root / "app" / "Dockerfile").write_text(APP)
    (root / "app" / "kept.txt").write_text("kept")
    (root / "app" / "ignored.log").write_text("ignored")
    (root / "app" / ".dockerignore").write_text("*.log\n")
    (root / "tool" / "Tool.dockerfile").write_text(TOOL)
    (root / "extra").mkdir()
    (root / "extra" / "note.txt").write_text("from a named context")
    return root


def _buildkit_env(api) -> dict[str, str]:
    env = {k: v for k, v in api.env.items() if k != "DOCKER_BUILDKIT"}
    install_compose(Path(env["DOCKER_CONFIG"]))
    return env


def test_compose_build_with_buildkit(api, busybox, tmp_path: Path):
    from tests.e2e.api.conftest import run_docker

    project = _project(tmp_path / "proj")
    env = _buildkit_env(api)

    def compose(*args: str, check: bool = True):
        return run_docker(env, ["compose", "--project-directory", str(project), "-p", "bk", *args], None, check, 240)

    first = compose("--progress", "plain", "build")
    out = first.out + first.err
    assert "buildx isn't installed" in out  # compose falls back to its own BuildKit client, not to the legacy API
    assert "[app internal] load build definition from Dockerfile" in out
    assert "[tool internal] load build definition from Tool.dockerfile" in out
    assert "RUN --mount=type=secret,id=token" in out
    assert re.search(r"^#\d+ transferring context: [\d.]+[kM]?B( [\d.]+s)? done$", out, re.M)  # what the file sync moved
    assert "exit 7" not in out  # the unused stage is not built

    run = lambda *cmd: api.docker("run", "--rm", *cmd).out  # noqa: E731
    assert run("bk/app:1") == "hello-from-args\n"
    assert run("bk/app:1", "cat", "/token-copy") == "s3cret-value"
    assert run("bk/app:1", "sh", "-c", "cat /run/secrets/token 2>/dev/null; true") == ""  # not in the image
    assert run("bk/app:1", "ls", "/src") == "Dockerfile\nkept.txt\n"  # .dockerignore left *.log out
    assert run("bk/tool:1", "cat", "/tool") == "tool\n"
    assert run("bk/tool:1", "cmp", "/bin/busybox", "/from-named-context") == ""  # a named context (an image)
    assert run("bk/tool:1", "cat", "/note.txt") == "from a named context"         # ... and a directory
    assert run("bk/tool:1", "cat", "/hosts").split() == ["10.9.8.7", "db.internal"]
    assert run("bk/tool:1", "cat", "/nets") == "lo\n"  # network: none
    labels = json.loads(api.docker("image", "inspect", "-f", "{{json .Config.Labels}}", "bk/tool:1").out)
    assert labels["com.example.team"] == "builders" and labels["com.docker.compose.service"] == "tool"
    images = api.docker("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
    assert {"bk/app:1", "bk/tool:1"} <= set(images)

    # the cache mount outlives a build, even one without the step cache (what makes rebuilds fast)
    assert run("bk/app:1", "cat", "/cache-runs").strip() == "1"
    compose("build", "--no-cache", "app")
    assert run("bk/app:1", "cat", "/cache-runs").strip() == "2"

    # `up --build`, the other way compose builds: nothing changed, so every step is CACHED
    second = compose("--progress", "plain", "up", "--build", "-d")
    out2 = second.out + second.err
    assert compose("logs", "app").out.strip().endswith("hello-from-args")
    compose("down")
    assert _step_states(out2) and all(state == "CACHED" for label, state in _step_states(out2).items()
                                      if " RUN " in label or " COPY " in label), out2


def _step_states(progress: str) -> dict[str, str]:
    """Each step of a plain progress output (`#N label`) with how it ended (CACHED, DONE, ERROR)."""
    labels, states = {}, {}
    for line in progress.splitlines():
        num, _, rest = line.partition(" ")
        if not num.startswith("#") or not rest:
            continue
        if num not in labels:
            labels[num] = rest
        elif rest == "CACHED" or rest.startswith(("DONE", "ERROR")):
            states[labels[num]] = rest.split()[0]
    return states


def test_compose_cache_to_and_from_a_registry_and_a_directory(api, busybox, own_registry, tmp_path: Path):  # noqa: F811
    """`cache_to`/`cache_from` of type registry and of type local (the client's directory, written
    through its session's content store): a build on an engine whose build cache is empty takes
    every step from them; inline is accepted; a backend dockyard has not got is refused by name."""
    import json

    from tests.e2e.api.conftest import run_docker

    ref = f"{own_registry}/cache/app:buildcache"
    cache_dir = tmp_path / "local-cache"
    project = tmp_path / "p"
    (project / "app").mkdir(parents=True)
    (project / "app" / "Dockerfile").write_text("FROM busybox\nRUN head -c 16 /dev/urandom | od -An -tx1 > /random\n"
                                                "COPY f.txt /f.txt\n")
    (project / "app" / "f.txt").write_text("f\n")
    (project / "compose.yaml").write_text(f"""\
services:
  registry:
    build:
      context: ./app
      cache_from: ["type=registry,ref={ref}"]
      cache_to: ["type=registry,ref={ref},mode=max", "type=inline"]
    image: cached/registry:1
  local:
    build:
      context: ./app
      cache_from: ["type=local,src={cache_dir}"]
      cache_to: ["type=local,dest={cache_dir}"]
    image: cached/local:1
  blob:
    build: {{context: ./app, cache_to: ["type=azblob,name=c,account_url=http://127.0.0.1:9"]}}
    image: cached/blob:1
""")
    env = _buildkit_env(api)

    def compose(*args: str):
        return run_docker(env, ["compose", "--project-directory", str(project), "-p", "cache", "--progress", "plain",
                                *args], None, False, 240)

    for service, where in (("registry", f"registry {ref}"), ("local", f"client directory {cache_dir}")):
        first = compose("build", service)
        assert first.code == 0, first.out + first.err
        assert f"exporting cache to {where}" in first.out + first.err
        random = api.docker("run", "--rm", f"cached/{service}:1", "cat", "/random").out
        api.docker("rmi", f"cached/{service}:1")
        api.docker("builder", "prune", "-af")

        second = compose("build", service)
        out = second.out + second.err
        assert second.code == 0, out
        assert "importing cache manifest from " in out and "WARNING" not in out, out
        states = _step_states(out)
        assert [state for label, state in states.items() if " RUN " in label or " COPY " in label] == ["CACHED"] * 2, out
        assert api.docker("run", "--rm", f"cached/{service}:1", "cat", "/random").out == random
    assert ref not in api.docker("images", "--format", "{{.Repository}}:{{.Tag}}").out  # the cache is no tag here
    (entry,) = json.loads((cache_dir / "index.json").read_text())["manifests"]  # the client's OCI layout
    assert (cache_dir / "blobs" / "sha256" / entry["digest"].split(":")[1]).is_file()

    refused = compose("build", "blob")
    assert refused.code != 0
    assert "cache export type=azblob is not served by dockyard" in refused.err, refused.out + refused.err


@pytest.fixture
def git_server(tmp_path: Path):
    """`git daemon --inetd` behind a listener of ours on a free loopback port (no port race):
    yields (the directory whose repositories it serves, the git:// URL of that directory)."""
    import socket
    import subprocess
    import threading

    base = tmp_path / "git"
    base.mkdir()
    listener = socket.create_server(("127.0.0.1", 0))
    procs = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            procs.append(subprocess.Popen(["git", "daemon", "--inetd", "--export-all", f"--base-path={base}", str(base)],
                                          stdin=conn, stdout=conn, stderr=subprocess.DEVNULL))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield base, f"git://127.0.0.1:{listener.getsockname()[1]}"
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    for proc in procs:
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _repo(path: Path, files: dict[str, str]) -> None:
    import subprocess

    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)


def test_compose_builds_from_git_contexts(api, busybox, git_server, tmp_path: Path):
    """A git repository as the build context (`URL#ref:subdir`) and as a named context
    (`additional_contexts`), checked out by the engine as BuildKit does; an http named context
    that is no repository is refused by name."""
    from tests.e2e.api.conftest import run_docker

    base, url = git_server
    _repo(base / "app", {"sub/Dockerfile": "FROM busybox\nCOPY hello.txt /hello.txt\nCOPY --from=lib lib.txt /lib.txt\n",
                         "sub/hello.txt": "hello from git\n"})
    _repo(base / "lib", {"lib.txt": "from the lib repository\n"})
    project = tmp_path / "p"
    project.mkdir()
    (project / "compose.yaml").write_text(f"""\
services:
  remote:
    build:
      context: {url}/app#main:sub
      additional_contexts: {{lib: "{url}/lib"}}
    image: remote/app:1
  web:
    build: {{context: ., additional_contexts: {{page: "https://127.0.0.1:9/page.txt"}}}}
    image: remote/web:1
""")
    (project / "Dockerfile").write_text("FROM busybox\n")
    env = _buildkit_env(api)

    def compose(*args: str):
        return run_docker(env, ["compose", "--project-directory", str(project), "-p", "git", "--progress", "plain",
                                *args], None, False, 240)

    built = compose("build", "remote")
    assert built.code == 0, built.out + built.err
    assert api.docker("run", "--rm", "remote/app:1", "cat", "/hello.txt", "/lib.txt").out == \
        "hello from git\nfrom the lib repository\n"
    refused = compose("build", "web")
    assert refused.code != 0
    assert "named build contexts other than images, local directories and git repositories" in refused.err, refused.err
