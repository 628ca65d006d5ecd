"""What the API benchmarks share: a throwaway `dockyard serve` with busybox in its root."""

from __future__ import annotations

import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from common import DOCKYARD, env_for, teardown


@contextmanager
def dockyard_server() -> Iterator[tuple[Path, dict]]:
    """Yields (socket path, env of the root) for a server over a fresh root with busybox."""
    with tempfile.TemporaryDirectory(prefix="dockyard-api-bench-") as d:
        base = Path(d)
        env = env_for(base)
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        sock = base / "d.sock"
        proc = subprocess.Popen([DOCKYARD, "serve", "-H", f"unix://{sock}"], env=env, stdout=subprocess.PIPE,
                                text=True)
        try:
            if "API listening" not in proc.stdout.readline():
                raise SystemExit("dockyard serve did not start")
            yield sock, env
        finally:
            proc.terminate()
            proc.wait(30)
            teardown(env)
