"""A real hub (`python -m dockyard.hub serve`) on a free loopback port, images for it, and a browser."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers.layertars import TarBuilder
from tests.helpers.servers import first_line

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
HUB = (sys.executable, "-m", "dockyard.hub")


def hub_cli(root: Path, *args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run([*HUB, "--root", str(root), *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"hub {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


class HubServer:
    def __init__(self, root: Path, log: Path, *args: str) -> None:
        self.root = root
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen([*HUB, "--root", str(root), "serve", "--addr", "127.0.0.1:0", *args],
                                     stdout=subprocess.PIPE, stderr=self._log)
        line = first_line(self.proc, self.proc.stdout)
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"hub did not start: {line!r} {log.read_text()}")
        self.url = line.split()[-1]
        self.host = self.url.split("://", 1)[1]

    def get(self, path: str, data: bytes | None = None, headers: dict | None = None,
            method: str | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def busybox_layer() -> bytes:
    tar = TarBuilder().dir("bin").dir("etc")
    tar.file("bin/busybox", Path(BUSYBOX).read_bytes(), mode=0o755)
    for applet in ("sh", "ls", "echo", "cat"):
        tar.symlink(f"bin/{applet}", "busybox")
    return tar.bytes()


def file_layer(name: str, data: bytes) -> bytes:
    return TarBuilder().file(name, data).bytes()


class Layout:
    """An OCI image layout written by hand, one image per tag, as a source for skopeo."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        self.index: list[dict] = []

    def _blob(self, data: bytes, media_type: str) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (self.path / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add(self, tag: str, layers: list[bytes], config: dict | None = None, history: list[dict] | None = None) -> dict:
        cfg = {
            "architecture": "amd64", "os": "linux", "created": "2024-05-01T12:00:00Z",
            "config": config or {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in layers]},
            "history": history or [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }
        manifest = {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": self._blob(json.dumps(cfg).encode(), "application/vnd.oci.image.config.v1+json"),
            "layers": [self._blob(t, "application/vnd.oci.image.layer.v1.tar") for t in layers],
        }
        desc = self._blob(json.dumps(manifest).encode(), manifest["mediaType"])
        desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index.append(desc)
        (self.path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": self.index}))
        return {"manifest": manifest, "config": cfg, "digest": desc["digest"]}


def fill_tags(root: Path, repo: str, count: int) -> None:
    """`count` tags v0.. over 20 images that share one base layer, written through the registry's storage."""
    from dockyard.oci import mediatypes as mt
    from dockyard.oci.digest import sha256_digest
    from dockyard.registry import manifests
    from dockyard.registry.storage import RegistryStorage

    storage = RegistryStorage(root)
    base = b"base layer " * 1000
    for blob in (base, *(f"layer {g}".encode() for g in range(20))):
        with storage.blobs.ingest() as ingest:
            ingest.write(blob)
            storage.commit_ingest(repo, ingest, sha256_digest(blob))
    for i in range(count):
        top = f"layer {i % 20}".encode()
        config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-05-01T12:00:00Z",
                             "config": {"Labels": {"n": str(i)}},
                             "rootfs": {"type": "layers", "diff_ids": [sha256_digest(base), sha256_digest(top)]}}).encode()
        with storage.blobs.ingest() as ingest:
            ingest.write(config)
            storage.commit_ingest(repo, ingest, sha256_digest(config))
        doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
               "config": {"mediaType": mt.OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
               "layers": [{"mediaType": mt.OCI_LAYER, "digest": sha256_digest(b), "size": len(b)} for b in (base, top)]}
        data = json.dumps(doc).encode()
        storage.put_manifest(repo, data, manifests.parse(data, mt.OCI_MANIFEST), f"v{i}")


def skopeo(*args: str) -> str:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def push(layout: Layout, tag: str, hub: HubServer, ref: str, creds: str | None = None) -> str:
    """Copy an image of the layout into the hub; returns its manifest digest there (skopeo re-encodes it)."""
    auth = ("--dest-creds", creds) if creds else ()
    digest_file = layout.path.parent / "pushed.digest"
    skopeo("copy", "--dest-tls-verify=false", *auth, "--digestfile", str(digest_file),
           f"oci:{layout.path}:{tag}", f"docker://{hub.host}/{ref}")
    return digest_file.read_text().strip()


DOCKYARD = (sys.executable, "-c", "from dockyard.cli.main import main; main()")


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def commit_and_push(work: Path, dockerfile: str, message: str, files: dict[str, str] | None = None) -> str:
    """Commit a Dockerfile (and files) in the clone `work`, push it to main; returns the commit."""
    (work / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (work / name).write_text(text)
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", message)
    git(work, "push", "--quiet", "origin", "main")
    return git(work, "rev-parse", "HEAD")


def builds_of(root: Path, sha: str) -> list:
    """The hub's builds of commit `sha`, oldest first."""
    from dockyard.hub.state import HubState

    return sorted((b for b in HubState(root).builds() if b.sha == sha), key=lambda b: b.id)


class Receiver:
    """A webhook receiver on a free loopback port: records (headers, body) of every POST and
    answers the first `failures` of them with HTTP 500."""

    def __init__(self, failures: int = 0) -> None:
        import http.server
        import threading

        self.received: list[tuple[dict, bytes]] = []
        self.failures = failures
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append((dict(self.headers), body))
                failing = len(outer.received) <= outer.failures
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout} s")


def navigate_by(browser, action, timeout: float = 30.0) -> None:
    """Run `action` (a click or submit that leads to another page) and wait until that page has
    loaded: the old page's root element goes stale, then the new document is complete. Waiting
    on the new page's content alone may find it still on the old page, or catch the old page's
    elements going stale under it."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element(By.TAG_NAME, "html")
    action()
    # a document being replaced may answer a script with an error instead: ask again
    waiting = WebDriverWait(browser, timeout, ignored_exceptions=(WebDriverException,))
    waiting.until(ec.staleness_of(old))
    waiting.until(lambda d: d.execute_script("return document.readyState") == "complete")


def fill_and_submit(browser, form: str, fields: dict[str, str], timeout: float = 30.0) -> None:
    """Type `fields` (element id -> text) into the page and submit the form with id `form`."""
    from selenium.webdriver.common.by import By

    for element_id, text in fields.items():
        box = browser.find_element(By.ID, element_id)
        box.clear()
        box.send_keys(text)
    navigate_by(browser, browser.find_element(By.CSS_SELECTOR, f"#{form} button[type=submit]").click, timeout)
