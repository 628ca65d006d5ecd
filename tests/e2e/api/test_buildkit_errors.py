"""A BuildKit build (compose, default settings) that fails ends with BuildKit's error shape,
`failed to solve: ...`, and leaves nothing behind: a Dockerfile syntax error, a failing RUN,
a COPY of a missing file, a client that goes away mid-build, an exporter not served."""

from __future__ import annotations

import glob
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.e2e.api.conftest import install_compose, run_docker
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root

CASES = {
    "syntax": ("FROM busybox\nFOO bar\n", "failed to solve: Dockerfile:2: unknown instruction: FOO"),
    "run": ("FROM busybox\nRUN echo some output; exit 3\n",
            'failed to solve: process "/bin/sh -c echo some output; exit 3" did not complete successfully: exit code: 3'),
    "copy": ("FROM busybox\nCOPY missing.txt /\n", "failed to solve: Dockerfile:2: COPY failed: file not found in build "
                                                     "context: missing.txt"),
}


def _env(api) -> dict[str, str]:
    env = {k: v for k, v in api.env.items() if k != "DOCKER_BUILDKIT"}
    install_compose(Path(env["DOCKER_CONFIG"]))
    return env


def _leftovers(dy, api) -> list[str]:
    """Build containers, build scratch and context directories, mounts under the root."""
    found = api.docker("ps", "-aq").out.split()
    found += glob.glob(f"{tempfile.gettempdir()}/dockyard-buildkit-{dy.engine().id}-*")
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    found += [m.split()[4] for m in mounts if m.split()[4].startswith((str(dy.root) + "/", str(dy.run_dir) + "/"))]
    return found


def test_failures_in_buildkit_words(api, dy, busybox, tmp_path: Path):
    env = _env(api)
    project = tmp_path / "p"
    services = []
    for name, (dockerfile, _) in CASES.items():
        (project / name).mkdir(parents=True)
        (project / name / "Dockerfile").write_text(dockerfile)
        services.append(f"  {name}: {{build: ./{name}, image: 'err/{name}'}}")
    (project / "compose.yaml").write_text("services:\n" + "\n".join(services) + "\n")
    for name, (_, message) in CASES.items():
        res = run_docker(env, ["compose", "--project-directory", str(project), "-p", "err", "--progress", "plain",
                               "build", name], None, False, 120)
        assert res.code != 0
        assert message in res.err, res.err
        if name == "run":  # the step's output is shown, as BuildKit shows it, with the step that failed
            assert "some output" in res.out and " > [run 2/2] RUN echo some output; exit 3:" in res.out
    # a named context (additional_contexts) is not served: the error says so
    (project / "named").mkdir()
    (project / "named" / "Dockerfile").write_text("FROM busybox\nCOPY --from=extra x /x\n")
    (project / "extra").mkdir()
    (project / "extra" / "x").write_text("x")
    with open(project / "compose.yaml", "a") as f:
        f.write("  named: {build: {context: ./named, additional_contexts: {extra: ./extra}}, image: 'err/named'}\n")
    res = run_docker(env, ["compose", "--project-directory", str(project), "-p", "err", "build", "named"], None,
                     False, 120)
    assert res.code != 0 and "named build contexts (context:extra) are not served by dockyard" in res.err, res.err
    assert not [i for i in api.docker("images", "--format", "{{.Repository}}").out.split() if i.startswith("err/")]
    wait_for(lambda: not _leftovers(dy, api), 30, "no build leftovers")
    assert "Traceback" not in api.log


def test_client_gone_mid_build(api, dy, busybox, tmp_path: Path):
    env = _env(api)
    project = tmp_path / "p"
    (project / "slow").mkdir(parents=True)
    (project / "slow" / "Dockerfile").write_text("FROM busybox\nRUN sleep 2\nRUN echo never > /never\n")
    (project / "compose.yaml").write_text("services:\n  slow: {build: ./slow, image: 'gone/slow'}\n")
    import compose  # the plugin binary itself: killing the docker CLI would leave its plugin running

    binary = str(Path(compose.__file__).parent / "docker-compose")
    client = subprocess.Popen([binary, "--project-directory", str(project), "-p", "gone", "--progress",
                               "plain", "build"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in client.stdout:
            if "RUN sleep 2" in line:
                break
        client.kill()  # mid-build: the step is running
    finally:
        client.kill()
        client.wait()
    wait_for(lambda: not _leftovers(dy, api), 30, "the build to stop and clean up")
    assert "gone/slow" not in api.docker("images", "--format", "{{.Repository}}").out
    assert "Traceback" not in api.log
