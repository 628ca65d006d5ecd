"""Pushing an image from the content store to a registry.

For each blob (in parallel): HEAD in the target repository and skip it if present; else
try a cross-repository mount from each candidate source repository on the same registry
(201 = done without sending a byte; 202 = the registry opened an ordinary upload instead,
which we use); else upload it, in one PUT when small, in PATCH chunks when large, resuming
from the registry's reported `Range` after a 416 or a broken connection. The manifest
goes last (an index after its child manifests), so a tag never names missing blobs.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator, Sequence

from dockyard.distribution.client import RegistryClient, TransferInterrupted, connect, repository_scope
from dockyard.distribution.credentials import Credentials
from dockyard.distribution.parallel import run_parallel
from dockyard.distribution.progress import Progress, QuietProgress
from dockyard.errors import CorruptContent, DockyardError, NotFound
from dockyard.oci import mediatypes
from dockyard.oci.digest import CANONICAL, algorithm_of, digest_of
from dockyard.oci.reference import Reference
from dockyard.store.content import CHUNK, ContentStore

CHUNK_SIZE = 16 << 20
MAX_CONCURRENT = 5
RETRIES = 3
RETRY_DELAY = 0.5


@dataclass(frozen=True)
class PushResult:
    """The pushed manifest's digest and how many blob bytes went over the wire (0 if all were there)."""

    digest: str
    bytes_sent: int


@dataclass
class _Push:
    """What every request of one push shares."""

    client: RegistryClient
    path: str
    content: ContentStore
    progress: Progress
    sources: list[str]
    scopes: tuple[str, ...]
    chunk_size: int


def push(ref: Reference, content: ContentStore, manifest_digest: str, *, progress: Progress | None = None,
         mount_from: Sequence[str] | None = None, credentials: Credentials | None = None, config_dir=None,
         insecure_registries: Sequence[str] = (), max_concurrent: int = MAX_CONCURRENT,
         chunk_size: int = CHUNK_SIZE) -> PushResult:
    """Push the manifest (or index) `manifest_digest` and its blobs from `content` as `ref`;
    `credentials`, when given, replace those stored in `config_dir`."""
    sources = _mount_sources(ref, mount_from or ())
    scopes = (repository_scope(ref.path, "pull,push"), *(repository_scope(s) for s in sources))
    with connect(ref.domain, credentials=credentials, config_dir=config_dir,
                 insecure_registries=insecure_registries) as client:
        job = _Push(client, ref.path, content, progress or QuietProgress(), sources, scopes, chunk_size)
        sent = _push_manifest(job, ref, manifest_digest, ref.tag or manifest_digest, max_concurrent)
    return PushResult(manifest_digest, sent)


def _mount_sources(ref: Reference, candidates: Sequence[str]) -> list[str]:
    """Candidate repositories as paths on `ref`'s registry; other registries' names are dropped."""
    paths: list[str] = []
    for name in candidates:
        path = name[len(ref.domain) + 1:] if name.startswith(ref.domain + "/") else name
        first = path.split("/", 1)[0]
        if ("." in first or ":" in first or first == "localhost") and "/" in path:
            continue
        if path != ref.path and path not in paths:
            paths.append(path)
    return paths


def _push_manifest(job: _Push, ref: Reference, digest: str, reference: str, max_concurrent: int) -> int:
    """Push what a manifest needs, then the manifest under `reference`; returns blob bytes sent."""
    data = job.content.read(digest)
    try:
        manifest = json.loads(data)
    except ValueError:
        raise CorruptContent(f"manifest {digest} in the content store is not valid JSON") from None
    media_type = manifest.get("mediaType") or (mediatypes.OCI_INDEX if "manifests" in manifest else mediatypes.OCI_MANIFEST)
    sent = 0
    if media_type in mediatypes.INDEXES:
        for entry in manifest.get("manifests") or []:
            if not job.content.exists(entry["digest"]):
                raise NotFound(f"cannot push {ref}: manifest {entry['digest']} of its index is not in the store")
            sent += _push_manifest(job, ref, entry["digest"], entry["digest"], max_concurrent)
    else:
        blobs = {d["digest"]: d["size"] for d in [*(manifest.get("layers") or []), manifest.get("config") or {}]}
        for d in blobs:
            if not job.content.exists(d):
                raise NotFound(f"cannot push {ref}: blob {d} is not in the content store")
        sent = sum(run_parallel([partial(_push_blob, job, d, s) for d, s in blobs.items()], max_concurrent))
    if reference != digest and algorithm_of(digest) != CANONICAL:
        # A registry names a manifest pushed by tag by its sha256: push it by its own digest too.
        _put_manifest(job, ref, digest, digest, media_type, data)
    _put_manifest(job, ref, digest, reference, media_type, data)
    return sent


def _put_manifest(job: _Push, ref: Reference, digest: str, reference: str, media_type: str, data: bytes) -> None:
    resp = job.client.request("PUT", f"/v2/{job.path}/manifests/{reference}", scopes=job.scopes,
                              headers={"Content-Type": media_type}, body=data)
    if resp.status_code not in (200, 201):
        raise job.client.error(resp, f"manifest {digest} for {ref.repository}")
    echoed = resp.headers.get("Docker-Content-Digest")
    if echoed and echoed != digest and not _names(echoed, data):
        raise CorruptContent(f"registry {ref.domain} stored manifest {digest} as {echoed}")


def _names(digest: str, data: bytes) -> bool:
    """Whether `digest` (perhaps of another algorithm than ours) is that of `data`."""
    try:
        return digest_of(data, algorithm_of(digest)) == digest
    except DockyardError:
        return False


def _push_blob(job: _Push, digest: str, size: int, cancel: threading.Event) -> int:
    """Make one blob present in the target repository; returns the bytes uploaded."""
    client = job.client
    resp = client.request("HEAD", f"/v2/{job.path}/blobs/{digest}", scopes=job.scopes)
    if resp.status_code == 200:
        job.progress.finish(digest, "Layer already exists")
        return 0
    if resp.status_code != 404:
        raise client.error(resp, f"blob {digest} in {client.domain}/{job.path}")
    location = None
    for source in job.sources:
        resp = client.request("POST", f"/v2/{job.path}/blobs/uploads/", scopes=job.scopes,
                              params={"mount": digest, "from": source})
        if resp.status_code == 201:
            job.progress.finish(digest, f"Mounted from {source}")
            return 0
        if resp.status_code == 202:
            location = resp.headers.get("Location")
            break
    for attempt in range(RETRIES + 1):
        try:
            sent = _upload(job, digest, size, location, cancel)
            job.progress.finish(digest, "Pushed")
            return sent
        except TransferInterrupted:
            if attempt == RETRIES or cancel.is_set():
                raise
            location = None
            time.sleep(RETRY_DELAY * (attempt + 1))
    raise AssertionError("unreachable")


def _start_upload(job: _Push) -> tuple[str, int]:
    resp = job.client.request("POST", f"/v2/{job.path}/blobs/uploads/", scopes=job.scopes)
    if resp.status_code != 202 or not resp.headers.get("Location"):
        raise job.client.error(resp, f"blob upload to {job.client.domain}/{job.path}")
    return resp.headers["Location"], int(resp.headers.get("OCI-Chunk-Min-Length") or 0)


def _upload(job: _Push, digest: str, size: int, location: str | None, cancel: threading.Event) -> int:
    """Upload a blob into a new (or given) upload session and commit it under its digest."""
    min_chunk = 0
    if location is None:
        location, min_chunk = _start_upload(job)
    chunk = max(job.chunk_size, min_chunk)
    client = job.client
    job.progress.start(digest, "Pushing", size)
    sent = 0
    if size <= chunk:
        resp = client.request("PUT", location, scopes=job.scopes, params={"digest": digest},
                              headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                              body=_file_body(job, digest, 0, size, cancel))
        sent = size
    else:
        offset, refusals = 0, 0
        while offset < size:
            n = min(chunk, size - offset)
            resp = client.request("PATCH", location, scopes=job.scopes, body=_file_body(job, digest, offset, n, cancel),
                                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(n),
                                           "Content-Range": f"{offset}-{offset + n - 1}"})
            if resp.status_code == 416 and refusals < RETRIES:
                refusals += 1
                location, offset = _upload_status(job, location)
                job.progress.start(digest, "Pushing", size, offset)
                continue
            if resp.status_code != 202:
                raise client.error(resp, f"blob {digest} upload to {client.domain}/{job.path}")
            sent += n
            location = resp.headers.get("Location") or location
            offset = _range_end(resp.headers.get("Range"), offset + n - 1) + 1
        resp = client.request("PUT", location, scopes=job.scopes, params={"digest": digest},
                              headers={"Content-Length": "0"}, body=b"")
    if resp.status_code not in (201, 204):
        raise client.error(resp, f"blob {digest} upload to {client.domain}/{job.path}")
    return sent


def _upload_status(job: _Push, location: str) -> tuple[str, int]:
    """Where an upload session stands after a refused chunk: (location, next offset)."""
    resp = job.client.request("GET", location, scopes=job.scopes)
    if resp.status_code != 204:
        raise job.client.error(resp, f"blob upload to {job.client.domain}/{job.path}")
    return resp.headers.get("Location") or location, _range_end(resp.headers.get("Range"), -1) + 1


def _range_end(header: str | None, default: int) -> int:
    """The last byte the registry holds, from `Range: 0-1234` (some registries write `bytes=0-1234`)."""
    if not header:
        return default
    try:
        return int(header.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        raise DockyardError(f"registry sent a malformed upload Range header {header!r}") from None


def _file_body(job: _Push, digest: str, offset: int, length: int, cancel: threading.Event) -> Callable[[], Iterator[bytes]]:
    """A re-startable body of `length` bytes of a stored blob from `offset`, reporting progress as it goes."""
    def chunks() -> Iterator[bytes]:
        with job.content.open(digest) as f:
            f.seek(offset)
            remaining = length
            while remaining:
                if cancel.is_set():
                    raise TransferInterrupted(f"upload of {digest} cancelled")
                data = f.read(min(CHUNK, remaining))
                if not data:
                    raise CorruptContent(f"blob {digest} in the content store is shorter than its manifest says")
                remaining -= len(data)
                job.progress.advance(digest, len(data))
                yield data
    return chunks
