"""Registry transfers: push and pull of the Debian image (~120 MB, one layer) over loopback.

Clients and servers compared, each run with fresh server storage for the cold pushes and, for
the cold pulls, the image removed from the pulling side and the page cache dropped first:
  * dockyard client -> `dockyard registry serve`, and -> the reference registry (docker-registry 2.8)
  * skopeo (docker-archive: source, oci: pull target) -> both servers
  * docker -> the reference registry (dockerd, when it runs)
plus each server's blob-serving speed (the same 121 MB blob fetched with curl) and the
pull and push where everything is already present. Engines alternate within each run.

    .venv/bin/python benchmarks/registry_transfer.py [RUNS]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BENCH_DEBIAN,
    DOCKYARD,
    debian_archive,
    docker_available,
    drop_caches,
    env_for,
    fmt,
    median,
    timed,
)

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
REFERENCE = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo")
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not answer at {url}")


class Server:
    """A registry on a free loopback port over `storage`; restart(fresh=True) empties the storage."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind, self.workdir = kind, workdir
        self.storage = workdir / f"{kind}-storage"
        self.proc: subprocess.Popen | None = None
        self.host = ""

    def start(self) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"{self.kind}.log", "ab")  # noqa: SIM115 (closed once the child has it)
        if self.kind == "dockyard":
            self.proc = subprocess.Popen([DOCKYARD, "registry", "serve", "--addr", "127.0.0.1:0", "--root", str(self.storage)],
                                         stdout=subprocess.PIPE, stderr=log)
            line = self.proc.stdout.readline().decode()
            if "listening on" not in line:
                self.stop()
                raise SystemExit(f"dockyard registry did not start: {line!r}")
            self.host = line.split()[-1].split("://", 1)[1]
        else:
            port = _free_port()
            config = self.workdir / "reference.yml"
            config.write_text("version: 0.1\nlog:\n  level: error\nstorage:\n  cache:\n    blobdescriptor: inmemory\n"
                              f"  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
                              f"http:\n  addr: 127.0.0.1:{port}\n  secret: bench-secret\n")
            self.proc = subprocess.Popen([REFERENCE, "serve", str(config)], stdout=log, stderr=log)
            self.host = f"127.0.0.1:{port}"
        log.close()
        _wait_http(f"http://{self.host}/v2/", self.proc, f"{self.kind} registry")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, fresh: bool = True) -> Server:
        self.stop()
        if fresh:
            shutil.rmtree(self.storage, ignore_errors=True)
        return self.start()


def manifest(host: str, repo: str, tag: str) -> dict:
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def curl_blob(host: str, repo: str, digest: str) -> float:
    """Seconds to download one blob to /dev/null, as curl measures it (request to last byte, no process start)."""
    out = subprocess.run(["curl", "-fsS", "-o", "/dev/null", "-w", "%{time_total}", f"http://{host}/v2/{repo}/blobs/{digest}"],
                         check=True, capture_output=True, text=True).stdout
    return float(out)


def dy(env: dict, *args: str, check: bool = True) -> float:
    return timed([DOCKYARD, *args], env=env, check=check)


def mbps(mb: float, xs: list[float]) -> str:
    return f"{mb / median(xs):7.1f} MB/s"


def main() -> None:
    tar = debian_archive()
    have_docker = docker_available()
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-registry-", dir="/var/tmp"))
    servers = {"dockyard": Server("dockyard", work), "reference": Server("reference", work)}
    docker_tags: list[str] = []
    gz_mb = 0.0
    rows: dict[str, list[float]] = {}
    sizes: dict[str, float] = {}  # MB moved by a row's operation, for its MB/s

    def add(name: str, value: float, mb: float | None = None) -> None:
        rows.setdefault(name, []).append(value)
        if mb is not None:
            sizes[name] = mb

    layer_mb = tar.stat().st_size / 1e6
    try:
        pusher, puller = env_for(work / "push-client"), env_for(work / "pull-client")
        dy(pusher, "load", "-q", "-i", str(tar))
        if have_docker:
            subprocess.run(["docker", "load", "-q", "-i", str(tar)], check=True, **QUIET)
        oci_dir = work / "oci-pull"
        for run in range(RUNS):
            print(f"run {run + 1}/{RUNS}", flush=True)
            order = ["dockyard", "reference"] if run % 2 == 0 else ["reference", "dockyard"]
            for kind in order:
                server = servers[kind].restart()
                ref = f"{server.host}/bench/debian:1"
                dy(pusher, "tag", BENCH_DEBIAN, ref)
                drop_caches()
                add(f"dockyard push -> {kind} (cold)", dy(pusher, "push", "-q", ref), layer_mb)
                add(f"dockyard push -> {kind} (all present)", dy(pusher, "push", "-q", ref))
                dy(pusher, "rmi", ref)
                dy(puller, "rmi", ref, check=False)
                drop_caches()
                add(f"dockyard pull <- {kind} (cold)", dy(puller, "pull", "-q", ref), layer_mb)
                add(f"dockyard pull <- {kind} (all present)", dy(puller, "pull", "-q", ref))
                dy(puller, "rmi", ref)
                # the same blob (dockyard pushed it) from each server, warm in the page cache
                big = max(manifest(server.host, "bench/debian", "1")["layers"], key=lambda d: d["size"])
                blob_mb = big["size"] / 1e6
                curl_blob(server.host, "bench/debian", big["digest"])
                for _ in range(3):
                    add(f"curl blob <- {kind} (page cache warm)", curl_blob(server.host, "bench/debian", big["digest"]), blob_mb)
                drop_caches()
                add(f"curl blob <- {kind} (cache dropped)", curl_blob(server.host, "bench/debian", big["digest"]), blob_mb)
            if SKOPEO:
                for kind in order:
                    server = servers[kind].restart()
                    drop_caches()
                    add(f"skopeo push -> {kind} (cold)", timed([SKOPEO, "copy", "-q", "--dest-tls-verify=false",
                                                                f"docker-archive:{tar}", f"docker://{server.host}/skopeo/debian:1"]), layer_mb)
                    shutil.rmtree(oci_dir, ignore_errors=True)
                    drop_caches()
                    add(f"skopeo pull <- {kind} (to oci:, cold)", timed([SKOPEO, "copy", "-q", "--src-tls-verify=false",
                                                                         f"docker://{server.host}/skopeo/debian:1",
                                                                         f"oci:{oci_dir}:latest"]), layer_mb)
                    shutil.rmtree(oci_dir, ignore_errors=True)
            if have_docker:
                server = servers["reference"].restart()
                ref = f"{server.host}/docker/debian:1"
                docker_tags.append(ref)
                subprocess.run(["docker", "tag", BENCH_DEBIAN, ref], check=True, **QUIET)
                drop_caches()
                add("docker push -> reference (cold)", timed(["docker", "push", "-q", ref]), layer_mb)
                add("docker push -> reference (all present)", timed(["docker", "push", "-q", ref]))
                # untag both names, so that docker holds no copy of the layer
                subprocess.run(["docker", "rmi", ref, BENCH_DEBIAN], check=True, **QUIET)
                drop_caches()
                t0 = time.perf_counter()
                out = subprocess.run(["docker", "pull", ref], check=True, capture_output=True, text=True).stdout
                add("docker pull <- reference (cold)", time.perf_counter() - t0, layer_mb)
                if "Already exists" in out:
                    print("  warning: docker still had the layer; its cold pull is not cold", flush=True)
                subprocess.run(["docker", "tag", ref, BENCH_DEBIAN], check=True, **QUIET)
                add("docker pull <- reference (all present)", timed(["docker", "pull", "-q", ref]))
                subprocess.run(["docker", "rmi", ref], check=True, **QUIET)
                # dockyard pulling the very bytes docker pulled (docker's gzip layer), for a like-for-like cold pull
                drop_caches()
                add("dockyard pull <- reference (docker's gzip push, cold)", dy(puller, "pull", "-q", ref), layer_mb)
                dy(puller, "rmi", ref)
                gz_mb = max(d["size"] for d in manifest(server.host, "docker/debian", "1")["layers"]) / 1e6

        print(f"\nimage {BENCH_DEBIAN}: {layer_mb:.1f} MB archive, one layer, which dockyard and skopeo push as it is"
              f"{f' and docker pushes gzipped ({gz_mb:.1f} MB on the wire)' if have_docker else ''}; {RUNS} runs."
              f"\nMB/s = image MB ({layer_mb:.0f}) / median time; curl rows: blob MB / time.\n")
        for name, xs in rows.items():
            rate = f"   {mbps(sizes[name], xs)}" if name in sizes else ""
            print(f"  {name:<56} {fmt(xs)}{rate}")

        def ratio(a: str, b: str, label: str, target: float | None = None) -> None:
            if a in rows and b in rows:
                r = median(rows[a]) / median(rows[b])
                verdict = "" if target is None else f"  (target <= {target:.2f}: {'met' if r <= target else 'MISSED'})"
                print(f"  {label:<56} {r:.2f}{verdict}")

        print("\nratios (medians):")
        ratio("curl blob <- dockyard (page cache warm)", "curl blob <- reference (page cache warm)",
              "blob serving (warm), dockyard/reference time", 1.0)
        ratio("curl blob <- dockyard (cache dropped)", "curl blob <- reference (cache dropped)",
              "blob serving (cold), dockyard/reference time", 1.0)
        ratio("dockyard pull <- dockyard (cold)", "docker pull <- reference (cold)", "cold pull, dockyard/docker", 0.5)
        ratio("dockyard pull <- reference (docker's gzip push, cold)", "docker pull <- reference (cold)",
              "cold pull of docker's gzip image, dockyard/docker", 0.5)
        ratio("dockyard push -> dockyard (cold)", "docker push -> reference (cold)", "cold push, dockyard/docker")
        ratio("dockyard pull <- dockyard (all present)", "docker pull <- reference (all present)",
              "pull, all present, dockyard/docker", 1.5)
        ratio("dockyard push -> dockyard (all present)", "docker push -> reference (all present)",
              "push, all present, dockyard/docker", 1.5)
        ratio("dockyard push -> dockyard (cold)", "dockyard push -> reference (cold)", "dockyard push, our server/reference")
        ratio("skopeo push -> dockyard (cold)", "skopeo push -> reference (cold)", "skopeo push, our server/reference")
        ratio("skopeo pull <- dockyard (to oci:, cold)", "skopeo pull <- reference (to oci:, cold)",
              "skopeo pull, our server/reference")
    finally:
        for server in servers.values():
            server.stop()
        if have_docker:
            for ref in [*set(docker_tags), BENCH_DEBIAN]:
                subprocess.run(["docker", "rmi", ref], check=False, **QUIET)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
