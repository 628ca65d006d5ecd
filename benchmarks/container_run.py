"""Start-path benchmarks: `run --rm busybox true` latency, `exec C true` into a running
container, `run -d -p PORT:80 busybox httpd` until the first HTTP 200 through the published
port, and DENSITY_N detached `sleep` containers (start time, memory per container: shim
RSS/PSS).

Prints medians over repeated runs for dockyard and, where installed on this machine, podman,
docker and a bare `crun run` of a prepared bundle (the floor), with ratios from the same run.
Usage: container_run.py [RUNS=20] [DENSITY_N=50] [SECTIONS=run,exec,port,density]
(`exec` also times dockyard's full path, which a global option selects, against its quick one)
(the baseline on this kind of machine: Docker 203 ms / Podman 140 ms per detached start;
Docker's shim 13.2/2.7 MB, podman's conmon 2.1/0.4 MB RSS/PSS)
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
from common import (DOCKYARD, docker_available, drop_caches, fmt, median, podman_available, report,  # noqa: E402
                    teardown, timed)

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50
SECTIONS = (sys.argv[3] if len(sys.argv) > 3 else "run,exec,port,density").split(",")


def dockyard_env(d: Path) -> dict:
    (d / "root").mkdir(parents=True, exist_ok=True)
    (d / "root" / "daemon.json").write_text(json.dumps({"bridge": "dybench0", "nft-table": "dybench",
                                                        "cgroup-parent": "/dybench"}))
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


def exec_times(engines: dict[str, tuple[list[str], dict | None]]) -> dict[str, list[float]]:
    """`exec C true` into a running `sleep` container of each engine, alternating engines; and
    dockyard's full path (a global option sends `exec` past its quick path, cli/execquick.py)."""
    name = f"exec{os.getpid()}"
    for cli, env in engines.values():
        subprocess.run([*cli, "run", "-d", "--name", name, "busybox", "sleep", "3600"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    runs = {**engines, "dockyard full path": ([DOCKYARD, "--log-level", "info"], engines["dockyard"][1])}
    out: dict[str, list[float]] = {e: [] for e in runs}
    try:
        for i in range(RUNS + 1):
            for engine, (cli, env) in runs.items():
                t = timed([*cli, "exec", name, "true"], env=env)
                if i:  # the first: a root's first exec makes its table, the quick path its exec profile
                    out[engine].append(t)
    finally:
        for cli, env in engines.values():
            subprocess.run([*cli, "rm", "-f", *(["-t", "0"] if cli == ["podman"] else []), name], env=env,
                           stdout=subprocess.DEVNULL)
    return out


def pss_rss(pids: list[int]) -> tuple[int, int]:
    rss = pss = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def shim_pids(run_dir: Path) -> list[int]:
    out = []
    for f in (run_dir / "s").glob("*/shim.pid"):
        try:
            out.append(int(f.read_text().split()[0]))
        except (OSError, ValueError):
            pass
    return out


def pids_named(comm: str) -> set[int]:
    """Processes whose command name starts with `comm` (the kernel keeps 15 characters)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip().startswith(comm[:15]):
                found.add(int(proc.name))
        except OSError:
            pass
    return found


def meminfo() -> dict[str, int]:
    """/proc/meminfo in kB, after the page cache is dropped (so files read meanwhile do not count)."""
    drop_caches()
    time.sleep(1)  # RCU-freed kernel objects of the removed containers go back to the allocator
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {k: int(v.split()[0]) for k, v in fields.items()}


def api_list_ms(sock: str) -> float:
    """Median milliseconds of `GET /containers/json?all=1` over a unix socket (10 requests)."""
    import http.client

    class Unix(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock)

    conn, xs = Unix("localhost"), []
    for _ in range(11):
        t0 = time.perf_counter()
        conn.request("GET", "/containers/json?all=1")
        resp = conn.getresponse()
        resp.read()
        xs.append((time.perf_counter() - t0) * 1000)
    return median(xs[1:])


def at_scale(cli: list[str], env: dict | None, name: str, sock: str | None) -> dict[str, float]:
    """With the containers running: medians of `ps`, `inspect NAME`, `exec NAME true` and
    `run --rm busybox true` (5 each), and of the API list where a socket is given."""
    out = {what: median([timed([*cli, *args], env=env) * 1000 for _ in range(5)]) for what, args in
           (("ps", ["ps"]), ("inspect", ["inspect", name]), ("exec", ["exec", name, "true"]),
            ("run --rm", ["run", "--rm", "busybox", "true"]))}
    if sock:
        out["API list"] = api_list_ms(sock)
    return out


def density(engines: dict[str, tuple[list[str], dict | None, str]], run_dir: Path) -> dict[str, dict]:
    """Start N detached `sleep` containers per engine, alternating engines container by
    container (drift hits all alike); time the starts; with all of them running, time the
    everyday commands (at_scale) and take the memory of the per-container monitors (our
    shim, conmon, containerd's shim). Then remove each engine's containers in turn: what
    the system gets back (MemTotal - MemAvailable, and the kernel's unreclaimable slab)
    is each engine's memory per container, its shims, processes and kernel objects
    together. engines: name -> (cli, env, monitor)."""
    names = [f"dens{os.getpid()}-{i}" for i in range(N)]
    before = {e: pids_named(monitor) for e, (_, _, monitor) in engines.items()}
    took = dict.fromkeys(engines, 0.0)
    subprocess.run(["sync"])
    for name in names:
        for engine, (cli, env, _) in engines.items():
            t0 = time.perf_counter()
            subprocess.run([*cli, "run", "-d", "--name", name, "busybox", "sleep", "3600"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            took[engine] += time.perf_counter() - t0
    time.sleep(2)
    out = {}
    for engine, (cli, env, monitor) in engines.items():
        pids = shim_pids(run_dir) if engine == "dockyard" else sorted(pids_named(monitor) - before[engine])
        rss, pss = pss_rss(pids)
        if engine == "dockyard":
            with tempfile.TemporaryDirectory(prefix="dyb-api-") as d:
                server = subprocess.Popen([*cli, "serve", "-H", f"unix://{d}/d.sock"], env=env, stdout=subprocess.PIPE,
                                          text=True)
                try:
                    server.stdout.readline()
                    scale = at_scale(cli, env, names[-1], f"{d}/d.sock")
                finally:
                    server.terminate()
                    server.wait(30)
        else:
            scale = at_scale(cli, env, names[-1], "/var/run/docker.sock" if engine == "docker" else None)
        out[engine] = {"start_s": took[engine], "per_start_ms": took[engine] / N * 1000, "monitors": len(pids),
                       "rss_kb": rss / max(len(pids), 1), "pss_kb": pss / max(len(pids), 1), "scale": scale}
    for engine, (cli, env, monitor) in engines.items():
        m0 = meminfo()
        t1 = time.perf_counter()
        rm = [*cli, "rm", "-f", *(["-t", "0"] if cli == ["podman"] else []), *names]  # podman waits 10 s for SIGTERM
        subprocess.run(rm, env=env, check=True, stdout=subprocess.DEVNULL)
        out[engine]["rm_s"] = time.perf_counter() - t1
        m1 = meminfo()
        out[engine]["used_kb"] = ((m0["MemTotal"] - m0["MemAvailable"]) - (m1["MemTotal"] - m1["MemAvailable"])) / N
        out[engine]["slab_kb"] = (m0["SUnreclaim"] - m1["SUnreclaim"]) / N
    return out


def print_density(engine: str, monitor: str, d: dict, ours: dict | None) -> None:
    ratio = f"   ratio dockyard/{engine} = {ours['per_start_ms'] / d['per_start_ms']:.2f}" if ours else ""
    print(f"  {engine:<9} {d['per_start_ms']:.0f} ms per start (all {d['start_s']:.2f} s, rm -f all {d['rm_s']:.2f} s);"
          f" {monitor} per container: RSS {d['rss_kb'] / 1024:.2f} MB, PSS {d['pss_kb'] / 1024:.2f} MB"
          f" ({d['monitors']} found){ratio}")
    print(f"            memory per container, all of it (system used, freed by rm): {d['used_kb'] / 1024:.2f} MB,"
          f" of which unreclaimable kernel slab {d['slab_kb'] / 1024:.2f} MB")
    print("            with all running: " + ", ".join(
        f"{what} {ms:.1f} ms" + (f" (dockyard/{engine} {ours['scale'][what] / ms:.2f})" if ours and what in ours["scale"] else "")
        for what, ms in d["scale"].items()))


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
        if have_podman:
            engines["podman"] = (["podman"], None)
        if have_docker:
            engines["docker"] = (["docker"], None)
        try:
            if "run" in SECTIONS:
                run_rm(env, crun_bundle(d, env), have_podman, have_docker)
            if "exec" in SECTIONS:
                execs = exec_times(engines)
                report("exec C true", execs.pop("dockyard"), execs)
            if "port" in SECTIONS:
                served: dict[str, list[float]] = {e: [] for e in engines}
                for i in range(RUNS):
                    for engine, (cli, e_env) in engines.items():
                        served[engine].append(first_200(cli, e_env, free_port(), f"web{os.getpid()}-{i}"))
                report("run -d -p PORT:80 busybox httpd -> first HTTP 200", served.pop("dockyard"), served)
            if "density" in SECTIONS:
                print(f"\n{N} detached sleep containers (default network, as the baseline), one after another:")
                monitors = {"dockyard": "dockyard-shim", "podman": "conmon", "docker": "containerd-shim"}
                dens = density({e: (*v, monitors[e]) for e, v in engines.items()}, d / "run")
                for engine in engines:
                    print_density(engine, monitors[engine], dens[engine], dens["dockyard"] if engine != "dockyard" else None)
        finally:
            teardown(env)


if __name__ == "__main__":
    main()
