"""Hub automated builds: time from `git push` until the built image is pullable, against doing it by hand.

Set-up (untimed): a hub root with busybox bootstrapped into its engine root, a local bare git
repository registered with `hub source add` (which installs the post-receive hook), and
`dockyard hub serve` on a free loopback port. Each run commits a small busybox Dockerfile with
a RUN step whose output differs per run (so no build cache hit) and then times:
  * hub:     `git push` .. GET /v2/<repo>/manifests/<short_sha> answers 200 (polled every 10 ms)
  * by hand: `dockyard build -t HUB/bench/manual:N` + `dockyard push` of the same Dockerfile, from
             a separate engine root that has busybox bootstrapped too
The hub's overhead is the difference of the medians. The hub's build record splits its time into
hook (push -> queued), queue wait (queued -> started), build (started -> finished) and the rest.

    .venv/bin/python benchmarks/hub_autobuild.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, fmt, median

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
REPO = "bench/app"
DOCKERFILE = 'FROM busybox\nRUN echo "{nonce}" > /stamp\nCMD ["cat", "/stamp"]\n'


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@example.invalid", "HOME": str(cwd), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def run(cmd: list[str]) -> None:
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-800:]}")


def status(url: str) -> int:
    req = urllib.request.Request(url, method="GET", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def main() -> None:
    from dockyard.hub.state import HubState

    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-hub-", dir="/var/tmp"))
    hub_root, hand_root = work / "hub", work / "hand"
    hub_proc = None
    hub_times, hand_times, parts = [], [], {"hook": [], "queue wait": [], "build": [], "after build": []}
    try:
        engine = ["--root", str(hub_root / "hub" / "engine"), "--run-dir", str(hub_root / "hub" / "run")]
        hand = ["--root", str(hand_root / "root"), "--run-dir", str(hand_root / "run")]
        run([DOCKYARD, *engine, "image", "bootstrap", "busybox"])
        run([DOCKYARD, *hand, "image", "bootstrap", "busybox"])
        bare, clone = work / "app.git", work / "clone"
        git(work, "init", "--quiet", "--bare", "-b", "main", str(bare))
        git(work, "clone", "--quiet", str(bare), str(clone))
        git(clone, "checkout", "--quiet", "-b", "main")
        run([DOCKYARD, "hub", "--root", str(hub_root), "source", "add", REPO, "--git", str(bare),
             "--tag-rule", "latest,{short_sha}"])
        log = open(work / "hub.log", "wb")  # noqa: SIM115 (closed in finally)
        hub_proc = subprocess.Popen([DOCKYARD, "hub", "--root", str(hub_root), "serve", "--addr", "127.0.0.1:0"],
                                    stdout=subprocess.PIPE, stderr=log)
        line = hub_proc.stdout.readline().decode()
        if "listening on" not in line:
            raise SystemExit(f"hub did not start: {line!r}: {(work / 'hub.log').read_text()[-1000:]}")
        url = line.split()[-1]
        host = url.split("://", 1)[1]
        state = HubState(hub_root)
        ctx = work / "ctx"
        ctx.mkdir()
        for i in range(RUNS):
            def by_hub(i=i) -> float:
                (clone / "Dockerfile").write_text(DOCKERFILE.format(nonce=f"hub run {i} {time.time()}"))
                git(clone, "add", ".")
                git(clone, "commit", "--quiet", "-m", f"run {i}")
                sha = git(clone, "rev-parse", "HEAD")
                wall0, t0 = time.time(), time.perf_counter()
                git(clone, "push", "--quiet", "origin", "main")
                manifest = f"{url}/v2/{REPO}/manifests/{sha[:7]}"
                deadline = t0 + 300
                while status(manifest) != 200:
                    build = next((b for b in state.builds(REPO) if b.sha == sha), None)
                    if build is not None and build.status == "failed":
                        raise SystemExit(f"hub build failed: {build.reason}\n{state.log_path(build.id).read_text()[-1500:]}")
                    if time.perf_counter() > deadline:
                        raise SystemExit("the hub did not publish the image within 300 s")
                    time.sleep(0.01)
                dt = time.perf_counter() - t0
                b = next(b for b in state.builds(REPO) if b.sha == sha)
                parts["hook"].append(b.created - wall0)
                parts["queue wait"].append(b.started - b.created)
                parts["build"].append(b.finished - b.started)
                parts["after build"].append(wall0 + dt - b.finished)
                return dt

            def by_hand(i=i) -> float:
                (ctx / "Dockerfile").write_text(DOCKERFILE.format(nonce=f"hand run {i} {time.time()}"))
                ref = f"{host}/bench/manual:{i}"
                t0 = time.perf_counter()
                run([DOCKYARD, *hand, "build", "-q", "-t", ref, str(ctx)])
                run([DOCKYARD, *hand, "push", "-q", ref])
                return time.perf_counter() - t0

            first, second = (by_hub, by_hand) if i % 2 == 0 else (by_hand, by_hub)
            a, b = first(), second()
            hub_t, hand_t = (a, b) if first is by_hub else (b, a)
            hub_times.append(hub_t)
            hand_times.append(hand_t)
            print(f"run {i + 1}/{RUNS}: hub {hub_t:.3f} s, by hand {hand_t:.3f} s", flush=True)

        print(f"\nbusybox Dockerfile with one RUN step, {RUNS} runs:")
        print(f"  git push -> pullable (hub)      {fmt(hub_times)}")
        print(f"  dockyard build + push by hand   {fmt(hand_times)}")
        overhead = median(hub_times) - median(hand_times)
        print(f"  hub overhead (difference of medians) = {overhead:.3f} s  (target <= 0.3 s: {'met' if overhead <= 0.3 else 'MISSED'})")
        print("  hub time split (medians): " + ", ".join(f"{k} {median(v):.3f} s" for k, v in parts.items()))
    finally:
        if hub_proc is not None:
            hub_proc.terminate()
            try:
                hub_proc.wait(15)
            except subprocess.TimeoutExpired:
                hub_proc.kill()
                hub_proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
