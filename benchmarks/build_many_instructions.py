"""Build Dockerfiles of 1,000 to 10,000 LABEL lines on busybox (--no-cache) and print the
seconds per 1,000 instructions, which stay flat when a build's cost is linear in its length.

    .venv/bin/python benchmarks/build_many_instructions.py [RUNS]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import DOCKYARD, env_for, median, timed

SIZES = (1000, 2000, 5000, 10000)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-many-"))
    try:
        env = env_for(work)
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        for n in SIZES:
            ctx = work / f"ctx{n}"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text("FROM busybox\n" + "".join(f"LABEL l{i}=v{i}\n" for i in range(n)))
            times = [timed([DOCKYARD, "build", "-q", "--no-cache", str(ctx)], env=env) for _ in range(runs)]
            print(f"{n:>6} LABEL lines: {median(times):6.2f} s, {median(times) / n * 1000:.3f} s per 1,000 instructions")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
