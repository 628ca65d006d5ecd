"""What the API benchmarks share: a throwaway `dockyard serve` with busybox in its root."""

from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from common import DOCKYARD, HERE, env_for, teardown


def httpload(tmp: Path) -> str:
    """httpload.c built into `tmp`: the load generator for the request-rate benchmarks."""
    binary = tmp / "httpload"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(HERE / "httpload.c")], check=True)
    return str(binary)


def rate(load: str, sock: str, path: str, concurrency: int, seconds: float) -> float:
    """Requests per second answered on `sock` for GET `path` from `concurrency` keep-alive connections."""
    out = subprocess.run([load, sock, path, str(concurrency), str(seconds)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{path}: {out.stderr.strip()}")
    return float(out.stdout)


class CpuGroup:
    """A cpuacct cgroup (v1) holding the server and so everything it starts but the containers:
    shims, hook and runtime processes. `seconds()` is the CPU time they used so far."""

    def __init__(self, name: str = "") -> None:
        self.dir = Path(f"/sys/fs/cgroup/cpuacct/dockyard-api-bench-{os.getpid()}{name}")
        self.dir.mkdir()

    def enter(self) -> None:
        """(In the server's process before exec) join the group."""
        (self.dir / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        return int((self.dir / "cpuacct.usage").read_text()) / 1e9

    def remove(self) -> None:
        for pid in (self.dir / "cgroup.procs").read_text().split():  # shims outliving the teardown
            Path("/sys/fs/cgroup/cpuacct/cgroup.procs").write_text(pid)
        self.dir.rmdir()


@contextmanager
def dockyard_server(cpu: CpuGroup | None = None) -> Iterator[tuple[Path, dict]]:
    """Yields (socket path, env of the root) for a server over a fresh root with busybox;
    the server runs in `cpu` when given."""
    with tempfile.TemporaryDirectory(prefix="dockyard-api-bench-") as d:
        base = Path(d)
        env = env_for(base)
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        sock = base / "d.sock"
        proc = subprocess.Popen([DOCKYARD, "serve", "-H", f"unix://{sock}"], env=env, stdout=subprocess.PIPE,
                                text=True, preexec_fn=cpu.enter if cpu else None)
        try:
            if "API listening" not in proc.stdout.readline():
                raise SystemExit("dockyard serve did not start")
            yield sock, env
        finally:
            proc.terminate()
            proc.wait(30)
            teardown(env)
