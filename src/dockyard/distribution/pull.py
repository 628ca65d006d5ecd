"""Pulling an image's blobs from a registry into the content store.

Manifests are fetched with every media type accepted; an index is resolved to the
platform's manifest; then the config and layers download in a thread pool (at most
`max_concurrent` at once, Docker's default of 3), skipping blobs the store already has.
Each blob streams into a partial file under `<content root>/ingest-partial/<hex>` that
survives an interruption, so the next attempt (or the next pull) continues with `Range`
from where it stopped. The partial is verified (digest and size) and renamed into the
store by the content store's own commit: a mismatch leaves nothing behind. Manifest and
index bytes are stored last, so a stored manifest means a complete pull.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Protocol, Sequence

from dockyard.distribution.auth import Denied
from dockyard.distribution.client import RegistryClient, TransferInterrupted, connect, repository_scope
from dockyard.distribution.credentials import Credentials
from dockyard.distribution.parallel import run_parallel
from dockyard.distribution.platform import parse_platform, select_manifest
from dockyard.distribution.progress import Progress, QuietProgress
from dockyard.errors import CorruptContent, DockyardError, NoSpace, NotFound
from dockyard.oci import mediatypes
from dockyard.oci.digest import CANONICAL, Hasher, algorithm_of, digest_of, hex_of, validate
from dockyard.oci.reference import Reference
from dockyard.store.content import CHUNK, ContentStore, Ingest

PARTIAL_DIR = "ingest-partial"
MAX_MANIFEST_BYTES = 4 << 20
MAX_CONCURRENT = 3
RETRIES = 3
RETRY_DELAY = 0.5


@dataclass(frozen=True)
class PullResult:
    """What was pulled; every digest named here is in the content store."""

    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    layers: list[dict] = field(default_factory=list)
    index_digest: str | None = None


class PartialBlob(Ingest):
    """An ingest at a fixed, per-digest path that is kept when a download breaks off.

    An exclusive `flock` on the file keeps two processes pulling the same blob from writing
    it at once; the second waits, then finds the blob already in the store.
    """

    def __init__(self, store: ContentStore, digest: str) -> None:
        directory = store.root / PARTIAL_DIR
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / hex_of(digest)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)  # the holder committed or aborted it while we waited: start over
        self._store = store
        self.guard = store.reserve.guard(f"blob {digest}")
        self.path = path
        self._file = os.fdopen(fd, "r+b")
        self._hasher = Hasher(algorithm_of(digest))
        while chunk := self._file.read(CHUNK):
            self._hasher.update(chunk)

    def restart(self) -> None:
        """Throw away what was kept (the server will not resume it)."""
        self._file.seek(0)
        self._file.truncate()
        self._hasher = Hasher(self._hasher.algorithm)

    @staticmethod
    def drop(store: ContentStore, digest: str) -> None:
        """Delete the kept partial of `digest`, unless some process is writing it."""
        try:
            fd = os.open(store.root / PARTIAL_DIR / hex_of(digest), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(store.root / PARTIAL_DIR / hex_of(digest))
        except OSError:  # in use (or gone): its writer decides
            pass
        finally:
            os.close(fd)

    def suspend(self) -> None:
        """Keep the bytes so far for a later resume (nothing kept if there are none), and release the lock."""
        if self.size == 0:
            self.abort()
            return
        self._file.flush()
        self._file.close()


class LayerSink(Protocol):
    """Where a layer's bytes also go as they arrive (the image service unpacks them meanwhile):
    written in order from byte 0, then finished once the blob verified, or aborted."""

    def write(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


def pull(ref: Reference, content: ContentStore, *, platform: str | None = None, progress: Progress | None = None,
         credentials: Credentials | None = None, config_dir=None, insecure_registries: Sequence[str] = (),
         max_concurrent: int = MAX_CONCURRENT,
         layer_sinks: Callable[[dict, list[dict]], dict[str, LayerSink]] | None = None) -> PullResult:
    """Fetch `ref`'s manifest, config and layers into `content`; the caller registers the image.
    `credentials`, when given, replace those stored in `config_dir`.
    With `layer_sinks`, the config comes first, and the sinks it returns for it (by layer
    digest) receive those layers' bytes during their download."""
    progress = progress or QuietProgress()
    wanted = parse_platform(platform) if platform else None
    with connect(ref.domain, credentials=credentials, config_dir=config_dir,
                 insecure_registries=insecure_registries) as client:
        try:
            data, media_type, digest = fetch_manifest(client, ref, ref.digest or ref.tag or "latest")
        except Denied as e:  # dockerd's words and status (404: the repository may not even exist)
            raise NotFound(f"pull access denied for {ref.familiar_repository}, repository does not exist or "
                           f"may require 'docker login': {e.message}") from None
        index: tuple[bytes, str] | None = None
        if media_type in mediatypes.INDEXES:
            index = (data, digest)
            entry = select_manifest(json_object(data, f"index {digest}"), wanted)
            data, media_type, digest = fetch_manifest(client, ref, validate(entry.get("digest", "")))
            if media_type in mediatypes.INDEXES:
                raise DockyardError(f"{ref}: nested image indexes are not supported")
        manifest = json_object(data, f"manifest {digest}")
        config = manifest.get("config") or {}
        layers = manifest.get("layers") or []
        for desc in [config, *layers]:
            _check_descriptor(desc, digest)
        sinks: dict[str, LayerSink] = {}
        if layer_sinks is not None:
            _download_all(client, ref, content, [config], progress, max_concurrent)
            sinks = layer_sinks(json_object(content.read(config["digest"]), f"config {config['digest']}"), layers)
        _download_all(client, ref, content, layers if layer_sinks is not None else [config, *layers], progress,
                      max_concurrent, sinks)
        if index is not None:
            content.put(index[0], index[1])
        content.put(data, digest)
    return PullResult(digest, media_type, config["digest"], [dict(d) for d in layers], index[1] if index else None)


def resolve(ref: Reference, *, config_dir=None, insecure_registries: Sequence[str] = ()) -> tuple[str, str, int]:
    """(digest, media type, size) of the manifest or index `ref` names, by a HEAD request."""
    with connect(ref.domain, config_dir=config_dir, insecure_registries=insecure_registries) as client:
        resp = client.request("HEAD", f"/v2/{ref.path}/manifests/{ref.digest or ref.tag or 'latest'}",
                              scopes=(repository_scope(ref.path),), headers={"Accept": mediatypes.MANIFEST_ACCEPT})
        if resp.status_code != 200:
            raise client.error(resp, f"manifest for {ref}")
        digest = resp.headers.get("Docker-Content-Digest") or ref.digest
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        size = int(resp.headers.get("Content-Length") or 0)
        if not digest:
            data, media_type, digest = fetch_manifest(client, ref, ref.tag or "latest")
            size = len(data)
    return validate(digest), media_type, size


def fetch_manifest(client: RegistryClient, ref: Reference, reference: str) -> tuple[bytes, str, str]:
    """GET a manifest or index by tag or digest: (bytes, media type, verified digest)."""
    by_digest = ":" in reference
    subject = f"manifest for {ref.repository}{'@' if by_digest else ':'}{reference}"
    resp = client.request("GET", f"/v2/{ref.path}/manifests/{reference}", scopes=(repository_scope(ref.path),),
                          headers={"Accept": mediatypes.MANIFEST_ACCEPT})
    if resp.status_code != 200:
        raise client.error(resp, subject)
    data = resp.content
    if len(data) > MAX_MANIFEST_BYTES:
        raise CorruptContent(f"{subject} is larger than {MAX_MANIFEST_BYTES} bytes")
    claimed = reference if by_digest else resp.headers.get("Docker-Content-Digest", "")
    try:  # verified with the algorithm the digest names (the spec allows sha512 too)
        digest = digest_of(data, algorithm_of(claimed) if claimed else CANONICAL)
    except DockyardError:
        raise CorruptContent(f"{subject} from {ref.domain}: malformed digest {claimed!r}") from None
    if claimed and claimed != digest:
        raise CorruptContent(f"{subject} from {ref.domain} failed verification: digest mismatch")
    parsed = json_object(data, subject)
    media_type = parsed.get("mediaType") or resp.headers.get("Content-Type", "").split(";")[0].strip()
    if parsed.get("schemaVersion") == 1 or media_type not in mediatypes.MANIFESTS + mediatypes.INDEXES:
        if "manifests" in parsed:
            media_type = mediatypes.OCI_INDEX
        elif "config" in parsed and "layers" in parsed:
            media_type = mediatypes.OCI_MANIFEST
        else:
            raise DockyardError(f"{subject}: unsupported manifest format {media_type or 'schema 1'}")
    return data, media_type, digest


def json_object(data: bytes, subject: str) -> dict:
    """`data` parsed as a JSON object; CorruptContent naming `subject` otherwise."""
    try:
        parsed = json.loads(data)
    except ValueError:
        raise CorruptContent(f"{subject} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise CorruptContent(f"{subject} is not a JSON object")
    return parsed


def _check_descriptor(desc: dict, manifest_digest: str) -> None:
    try:
        validate(desc.get("digest", ""))
        if not isinstance(desc.get("size"), int) or desc["size"] < 0:
            raise ValueError
    except (DockyardError, ValueError):
        raise CorruptContent(f"manifest {manifest_digest} has a malformed descriptor: {desc!r}") from None


def _download_all(client: RegistryClient, ref: Reference, content: ContentStore, descriptors: list[dict],
                  progress: Progress, max_concurrent: int, sinks: dict[str, LayerSink] | None = None) -> None:
    """Download the blobs the store lacks, in parallel; a failure cancels the rest (their partials are kept)."""
    todo: dict[str, int] = {}
    for desc in descriptors:
        if content.exists(desc["digest"]):
            progress.finish(desc["digest"], "Already exists")
        else:
            todo[desc["digest"]] = desc["size"]
    try:
        run_parallel([partial(_fetch_blob, client, ref, content, d, s, progress, (sinks or {}).get(d))
                      for d, s in todo.items()], max_concurrent)
    except NoSpace:  # the others' partials would keep the disk full: nothing of this pull stays
        for digest in todo:
            PartialBlob.drop(content, digest)
        raise


def _fetch_blob(client: RegistryClient, ref: Reference, content: ContentStore, digest: str, size: int,
                progress: Progress, sink: LayerSink | None, cancel: threading.Event) -> None:
    stream = sink  # aborted on the way out, unless it finished
    part = PartialBlob(content, digest)
    try:
        if content.exists(digest):
            part.abort()
            progress.finish(digest, "Already exists")
            return
        if part.size:
            sink = None  # resumed mid-tar: the stream cannot start at byte 0
        try:
            part.require(size)
            for attempt in range(RETRIES + 1):
                try:
                    _download(client, ref, part, digest, size, progress, cancel, sink)
                    break
                except TransferInterrupted:
                    sink = None  # the retry resumes mid-tar
                    if attempt == RETRIES or cancel.is_set():
                        raise
                    time.sleep(RETRY_DELAY * (attempt + 1))
            progress.start(digest, "Verifying Checksum", size, size)
        except (CorruptContent, NoSpace):  # no partial kept: it would be wrong, or keep the disk full
            part.abort()
            raise
        except BaseException:
            part.suspend()
            raise
        try:
            part.commit(digest, size)
        except CorruptContent:
            raise CorruptContent(f"blob {digest} from {ref.domain} failed verification: digest mismatch") from None
        if sink is not None:
            sink.finish()
            stream = None
        progress.finish(digest, "Pull complete")
    finally:
        if stream is not None:
            stream.abort()


def _download(client: RegistryClient, ref: Reference, part: PartialBlob, digest: str, size: int,
              progress: Progress, cancel: threading.Event, sink: LayerSink | None = None) -> None:
    """One GET of the blob, from the partial's end when there is one; raises TransferInterrupted to retry."""
    offset = part.size
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    resp = client.request("GET", f"/v2/{ref.path}/blobs/{digest}", scopes=(repository_scope(ref.path),),
                          headers=headers, stream=True)
    try:
        resumed = resp.status_code == 206 and resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-")
        if offset and resp.status_code == 416:
            part.restart()
            raise TransferInterrupted(f"registry {ref.domain} refused to resume {digest}")
        if resp.status_code not in (200, 206) or (resp.status_code == 206 and not resumed):
            raise client.error(resp, f"blob {digest} in {ref.repository}")
        if offset and not resumed:
            part.restart()
        progress.start(digest, "Downloading", size, part.size)
        for chunk in client.iter_body(resp):
            if cancel.is_set():
                raise TransferInterrupted(f"download of {digest} cancelled")
            if part.size + len(chunk) > size:
                raise CorruptContent(f"blob {digest} from {ref.domain} failed verification: larger than {size} bytes")
            part.write(chunk)
            if sink is not None:
                sink.write(chunk)
            progress.advance(digest, len(chunk))
    finally:
        resp.close()
    if part.size < size:
        raise TransferInterrupted(f"download of {digest} from {ref.domain} ended after {part.size} of {size} bytes")
