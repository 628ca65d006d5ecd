"""Fixtures for the shim tests: dockyard-shim built from source once per session, and a
helper that runs busybox containers through it under each OCI runtime, cleaning up every
shim, container and cgroup afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.runtime import linux
from dockyard.runtime.shim import protocol
from dockyard.runtime.shim.protocol import ShimArgs
from tests.integration.runtime import conftest as runtime_conftest
from tests.integration.runtime.conftest import Bundles

pytestmark = pytest.mark.root

SHIM_DIR = Path(__file__).parents[3] / "src/dockyard/runtime/shim"
# the runtime suite's busybox rootfs and private cgroup parent, shared
rootfs = runtime_conftest.rootfs
cgroup_parent = runtime_conftest.cgroup_parent
RUNTIMES = {"dockyard": str(Path(sys.executable).parent / "dockyard-runtime"),
            "runc": shutil.which("runc"), "crun": shutil.which("crun")}


@pytest.fixture(scope="session")
def shim_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = str(tmp_path_factory.mktemp("shim") / "dockyard-shim")
    subprocess.run([str(SHIM_DIR / "build.sh"), out], check=True)
    return out


def wait_for(check, timeout: float = 20, what: str = "condition"):
    """Poll until check() returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    return linux.process_start_time(pid) is not None


class Shims:
    """Starts containers through dockyard-shim and remembers them for cleanup."""

    def __init__(self, binary: str, runtime: str, tmp: Path, bundles: Bundles,
                 cgroup_parent: str) -> None:
        self.binary, self.runtime, self.bundles = binary, runtime, bundles
        self.runtime_root = str(tmp / "runtime-root")
        self.cgroup_parent = cgroup_parent
        self.started: list[ShimArgs] = []

    def args(self, cmd: list[str], *, tty: bool = False, memory: int = 0, **shim) -> ShimArgs:
        cid, bundle = self.bundles.make(cmd, tty=tty, memory=memory)
        state = Path(bundle) / "state"
        state.mkdir()
        return ShimArgs(container_id=cid, bundle=bundle, state_dir=str(state),
                        runtime=self.runtime, runtime_root=self.runtime_root,
                        log_path=str(state / "log"), tty=tty,
                        oom_file=protocol.oom_file(f"{self.cgroup_parent}/{cid}"), **shim)

    def start(self, args: ShimArgs) -> int:
        self.started.append(args)
        return protocol.start_shim(args.argv(self.binary))

    def run(self, cmd: list[str], **kw) -> tuple[ShimArgs, int]:
        args = self.args(cmd, **kw)
        return args, self.start(args)

    def wait_exit(self, args: ShimArgs, timeout: float = 20) -> dict:
        return wait_for(lambda: protocol.read_exit(args.state_dir), timeout, "exit.json")

    def wait_gone(self, args: ShimArgs, timeout: float = 20) -> None:
        wait_for(lambda: not protocol.shim_alive(args.state_dir), timeout, "the shim to exit")

    def cleanup(self) -> None:
        """Kill what a test left running, then check nothing of it survives."""
        leftovers = []
        for args in self.started:
            pid_file = Path(args.state_dir, "shim.pid")
            deadline = time.monotonic() + 5
            while (args.restart == "no" and protocol.read_exit(args.state_dir) and protocol.shim_alive(args.state_dir)
                   and time.monotonic() < deadline):
                time.sleep(0.01)  # exit.json comes just before the shim's own end
            if protocol.shim_alive(args.state_dir):
                leftovers.append(f"shim of {args.container_id}")
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            started = protocol.read_started(args.state_dir)
            if started and alive(started["pid"]):
                # a killed shim leaves its container: the engine would delete it like this
                subprocess.run([self.runtime, "--root", self.runtime_root, "delete", "-f",
                                args.container_id], capture_output=True, check=False)
                pid = started["pid"]
                wait_for(lambda: not alive(pid), 10, "the container to die")  # noqa: B023
        assert not leftovers, f"left running after the test: {leftovers}"


def _shims(runtime: str, binary: str, rootfs: str, tmp: Path, cgroup_parent: str):
    if not RUNTIMES[runtime]:
        pytest.skip(f"{runtime} is not installed")
    shims = Shims(binary, RUNTIMES[runtime], tmp, Bundles(rootfs, tmp, cgroup_parent),
                  cgroup_parent)
    yield shims
    shims.cleanup()


@pytest.fixture(params=list(RUNTIMES))
def shims(request, shim_binary: str, rootfs: str, tmp_path: Path,
          cgroup_parent: str):
    """Shims under each OCI runtime."""
    yield from _shims(request.param, shim_binary, rootfs, tmp_path, cgroup_parent)


@pytest.fixture
def dshims(shim_binary: str, rootfs: str, tmp_path: Path,
           cgroup_parent: str):
    """Shims under dockyard's own runtime only, for behaviour that is the shim's alone."""
    yield from _shims("dockyard", shim_binary, rootfs, tmp_path, cgroup_parent)
