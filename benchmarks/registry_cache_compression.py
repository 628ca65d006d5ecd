"""Pull-through cache and compression on push, over loopback.

The image: one layer of this host's Python standard library (~100 MB of real files), imported,
saved as a docker-archive (its layer a plain tar, as `docker save` writes) and loaded into
fresh roots, so every push has to compress it.

  * cache: the reference registry (docker-registry) upstream, `dockyard registry serve
    --proxy-remote` in front. First pull through a cold cache against a pull straight from
    upstream; a pull the cache already holds against a pull from a plain dockyard registry
    holding the same image.
  * push: `dockyard push` (gzip, the default) of the loaded image to a fresh reference
    registry against `docker push` of the same archive to one (when dockerd runs), and
    `--compression-format zstd` against gzip; each from a fresh root, so nothing is remembered.

    .venv/bin/python benchmarks/registry_cache_compression.py [RUNS]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, docker_available, drop_caches, env_for, report  # noqa: E402
from registry_transfer import QUIET, Server, dy  # noqa: E402

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
IMAGE = "bench/cache-compress:1"


def make_archive(work: Path) -> Path:
    """A docker-archive whose one layer is a plain tar of the Python standard library."""
    src = work / "stdlib.tar"
    subprocess.run(["tar", "-C", "/", "-cf", str(src), f"usr/lib/python3.{sys.version_info[1]}"], check=True)
    env = env_for(work / "maker")
    subprocess.run([DOCKYARD, "import", str(src), IMAGE], env=env, check=True, **QUIET)
    archive = work / "image.tar"
    subprocess.run([DOCKYARD, "save", "-o", str(archive), IMAGE], env=env, check=True)
    shutil.rmtree(work / "maker", ignore_errors=True)
    src.unlink()
    return archive


def fresh_root(work: Path, name: str, archive: Path | None = None) -> dict:
    shutil.rmtree(work / name, ignore_errors=True)
    env = env_for(work / name)
    if archive is not None:
        dy(env, "load", "-q", "-i", str(archive))
    return env


def proxy_server(work: Path, upstream: Server) -> Server:
    """A dockyard registry in proxy mode, empty."""
    server = Server("dockyard", work / "proxy")

    def start() -> Server:
        import registry_transfer

        server.workdir.mkdir(parents=True, exist_ok=True)
        server.proc = subprocess.Popen([DOCKYARD, "registry", "serve", "--addr", "127.0.0.1:0", "--root",
                                        str(server.storage), "--proxy-remote", f"http://{upstream.host}"],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = server.proc.stdout.readline().decode()
        server.host = line.split()[-1].split("://", 1)[1]
        registry_transfer._wait_http(f"http://{server.host}/v2/", server.proc, "proxy")
        return server

    server.start = start  # type: ignore[method-assign]
    return server


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-cache-", dir="/var/tmp"))
    have_docker = docker_available()
    upstream, plain = Server("reference", work / "up"), Server("dockyard", work / "plain")
    proxy = proxy_server(work, upstream)
    pushes = Server("reference", work / "push")
    rows: dict[str, list[float]] = {}
    try:
        archive = make_archive(work)
        print(f"image: one {archive.stat().st_size / 1e6:.0f} MB uncompressed layer", flush=True)
        if have_docker:
            subprocess.run(["docker", "load", "-q", "-i", str(archive)], check=True, **QUIET)
        upstream.start()
        plain.start()
        seed = fresh_root(work, "seed", archive)
        for server in (upstream, plain):
            dy(seed, "tag", IMAGE, f"{server.host}/lib/img:1")
            dy(seed, "push", "-q", f"{server.host}/lib/img:1")
        for run in range(RUNS):
            print(f"run {run + 1}/{RUNS}", flush=True)
            proxy.restart(fresh=True)
            for label, host in (("direct from upstream", upstream.host), ("first through the cache", proxy.host),
                                ("cached, through the cache", proxy.host), ("direct from dockyard", plain.host)):
                puller = fresh_root(work, "puller")
                drop_caches()
                rows.setdefault(label, []).append(dy(puller, "pull", "-q", f"{host}/lib/img:1"))

            for fmt_args, label in (((), "push gzip"), (("--compression-format", "zstd"), "push zstd")):
                pusher = fresh_root(work, "pusher", archive)
                pushes.restart(fresh=True)
                dy(pusher, "tag", IMAGE, f"{pushes.host}/lib/img:1")
                drop_caches()
                rows.setdefault(label, []).append(dy(pusher, "push", "-q", *fmt_args, f"{pushes.host}/lib/img:1"))
            if have_docker:
                pushes.restart(fresh=True)
                subprocess.run(["docker", "tag", IMAGE, f"{pushes.host}/lib/img:1"], check=True, **QUIET)
                drop_caches()
                from common import timed
                rows.setdefault("docker push", []).append(timed(["docker", "push", "-q", f"{pushes.host}/lib/img:1"]))
                subprocess.run(["docker", "rmi", f"{pushes.host}/lib/img:1"], **QUIET)
        print()
        report("first pull through the cache vs direct from upstream", rows["first through the cache"],
               {"upstream": rows["direct from upstream"]})
        report("cached pull vs direct from a plain dockyard registry", rows["cached, through the cache"],
               {"direct": rows["direct from dockyard"]})
        report("push, gzip (dockyard) vs docker push (gzip)", rows["push gzip"], {"docker": rows.get("docker push", [])})
        report("push, zstd vs gzip", rows["push zstd"], {"gzip": rows["push gzip"]})
    finally:
        for server in (upstream, plain, proxy, pushes):
            server.stop()
        if have_docker:
            subprocess.run(["docker", "rmi", IMAGE], **QUIET)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
