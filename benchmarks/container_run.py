"""Start-path benchmarks: `run --rm busybox true` latency, `exec C true` into a running
container, and `run -d -p PORT:80 busybox httpd` until the first HTTP 200 through the published
port; the `density` section runs density.py with DENSITY_N containers on the default network.

Prints medians over repeated runs for dockyard and, where installed on this machine, podman,
docker and a bare `crun run` of a prepared bundle (the floor), with ratios from the same run.
Usage: container_run.py [RUNS=20] [DENSITY_N=50] [SECTIONS=run,exec,port,density]
(DOCKYARD_BASE=/path/to/another/dockyard launcher adds it to the exec and port sections)
(`exec` also times dockyard's full path, which a global option selects, against its quick one)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DOCKYARD, docker_available, fmt, podman_available, report,  # noqa: E402
                    teardown, timed)

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50
SECTIONS = (sys.argv[3] if len(sys.argv) > 3 else "run,exec,port,density").split(",")


def dockyard_env(d: Path, suffix: str = "") -> dict:
    (d / "root").mkdir(parents=True, exist_ok=True)
    tag = f"dyb{os.getpid()}{suffix}"  # its own: another benchmark may run beside it on this host
    (d / "root" / "daemon.json").write_text(json.dumps({"bridge": tag, "nft-table": tag, "cgroup-parent": "/" + tag}))
    return {**os.environ, "DOCKYARD_ROOT": str(d / "root"), "DOCKYARD_RUN_DIR": str(d / "run")}


def crun_bundle(d: Path, env: dict) -> Path | None:
    """The busybox rootfs as an OCI bundle with `runc spec`'s config running `true`."""
    if not shutil.which("crun") or not shutil.which("runc"):
        return None
    b = d / "bundle"
    (b / "rootfs").mkdir(parents=True)
    data = subprocess.run([DOCKYARD, "export", "-o", str(d / "fs.tar"),
                           subprocess.run([DOCKYARD, "create", "--network", "none", "busybox", "true"], env=env,
                                          capture_output=True, text=True, check=True).stdout.strip()],
                          env=env, capture_output=True)
    if data.returncode:
        return None
    subprocess.run(["tar", "-C", str(b / "rootfs"), "-xf", str(d / "fs.tar")], check=True)
    subprocess.run(["runc", "spec"], cwd=b, check=True)
    spec = json.loads((b / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    (b / "config.json").write_text(json.dumps(spec))
    return b


def first_200(cli: list[str], env: dict | None, port: int, name: str) -> float:
    """Seconds from launching `run -d -p PORT:80 busybox httpd` to the first HTTP 200 from
    127.0.0.1:PORT (polled while the command runs: an engine may answer before it returns)."""
    t0 = time.perf_counter()
    run = subprocess.Popen([*cli, "run", "-d", "--name", name, "-p", f"{port}:80", "busybox",
                            "httpd", "-f", "-p", "80", "-h", "/etc"], env=env, stdout=subprocess.DEVNULL)
    try:
        while True:
            if run.poll():
                raise SystemExit(f"{cli[0]} run -p failed ({run.returncode})")
            if _get_200(port):
                return time.perf_counter() - t0
            time.sleep(0.001)
    finally:
        run.wait()
        subprocess.run([*cli, "rm", "-f", *(["-t", "0"] if cli == ["podman"] else []), name], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _get_200(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /hostname HTTP/1.0\r\n\r\n")
            return s.recv(64).split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"]
    except OSError:  # refused (nothing listens yet) or reset (a proxy with no container behind it)
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def exec_times(engines: dict[str, tuple[list[str], dict | None]], flags: tuple[str, ...]) -> dict[str, list[float]]:
    """`exec FLAGS C true` into a running `sleep` container of each engine, alternating engines;
    and dockyard's full path (a global option sends `exec` past its quick path, cli/execquick.py)."""
    name = f"exec{os.getpid()}"
    for cli, env in engines.values():
        subprocess.run([*cli, "run", "-d", "--name", name, "busybox", "sleep", "3600"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    runs = {**engines, "dockyard full path": ([DOCKYARD, "--log-level", "info"], engines["dockyard"][1])}
    out: dict[str, list[float]] = {e: [] for e in runs}
    try:
        for i in range(RUNS + 1):
            for engine, (cli, env) in runs.items():
                t = timed([*cli, "exec", *flags, name, "true"], env=env)
                if i:  # the first: a root's first exec makes its table, the quick path its exec profile
                    out[engine].append(t)
    finally:
        for cli, env in engines.values():
            subprocess.run([*cli, "rm", "-f", *(["-t", "0"] if cli == ["podman"] else []), name], env=env,
                           stdout=subprocess.DEVNULL)
    return out


def run_rm(env: dict, bundle: Path | None, have_podman: bool, have_docker: bool) -> None:
    ours, ours_none, pod, dock, crun = [], [], [], [], []
    for i in range(RUNS + 1):
        a = timed([DOCKYARD, "run", "--rm", "busybox", "true"], env=env)
        b = timed([DOCKYARD, "run", "--rm", "--network", "none", "busybox", "true"], env=env)
        p = timed(["podman", "run", "--rm", "busybox", "true"]) if have_podman else None
        k = timed(["docker", "run", "--rm", "busybox", "true"]) if have_docker else None
        c = timed(["crun", "run", "--bundle", str(bundle), f"dyb{os.getpid()}{i}"]) if bundle else None
        if i == 0:
            continue  # warm-up
        ours.append(a)
        ours_none.append(b)
        for xs, v in ((pod, p), (dock, k), (crun, c)):
            if v is not None:
                xs.append(v)
    report("run --rm busybox true (default bridge network)", ours, {"podman": pod, "docker": dock, "crun": crun})
    print(f"  dockyard --network none: {fmt(ours_none)}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dyb-", dir="/tmp") as tmp:
        d = Path(tmp)
        env = dockyard_env(d)
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([DOCKYARD, "container", "prune", "-f"], env=env, stdout=subprocess.DEVNULL)
        have_podman, have_docker = podman_available(), docker_available()
        engines = {"dockyard": ([DOCKYARD], env)}
        base_env = None
        if os.environ.get("DOCKYARD_BASE"):  # another dockyard launcher (an earlier commit's), on a root of its own
            base_env = dockyard_env(d / "base", "b")
            subprocess.run([os.environ["DOCKYARD_BASE"], "image", "bootstrap", "busybox"], env=base_env, check=True,
                           stdout=subprocess.DEVNULL)
            engines["base"] = ([os.environ["DOCKYARD_BASE"]], base_env)
        if have_podman:
            engines["podman"] = (["podman"], None)
        if have_docker:
            engines["docker"] = (["docker"], None)
        try:
            if "run" in SECTIONS:
                run_rm(env, crun_bundle(d, env), have_podman, have_docker)
            if "exec" in SECTIONS:
                for flags in ((), ("-t",), ("-d",)):
                    execs = exec_times(engines, flags)
                    report(" ".join(("exec", *flags, "C true")), execs.pop("dockyard"), execs)
            if "port" in SECTIONS:
                served: dict[str, list[float]] = {e: [] for e in engines}
                for i in range(RUNS):
                    for engine, (cli, e_env) in engines.items():
                        served[engine].append(first_200(cli, e_env, free_port(), f"web{os.getpid()}-{i}"))
                report("run -d -p PORT:80 busybox httpd -> first HTTP 200", served.pop("dockyard"), served)
        finally:
            teardown(env)
            if base_env:
                teardown(base_env)
    if "density" in SECTIONS:
        subprocess.run([sys.executable, str(Path(__file__).with_name("density.py")), str(N), "default"], check=True)


if __name__ == "__main__":
    main()
