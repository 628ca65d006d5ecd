"""The content store: blobs addressed by digest under `blobs/<algorithm>/<hex>` (sha256, sha512).

A blob becomes visible only once complete and verified: it is written to a temporary
file in `ingest/`, fsynced, its digest checked, then renamed into place. A crash at any
point leaves at most a stray ingest file, which `system check --repair` removes. Writes
are checked against the root's free-space reserve (store/space.py) as they go.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import CorruptContent, NotFound
from dockyard.oci.digest import ALGORITHMS, CANONICAL, Hasher, algorithm_of, hex_of, validate
from dockyard.store.scratch import TMP_PREFIX, owner_alive
from dockyard.store.space import Reserve, is_full

CHUNK = 1 << 20


class Ingest:
    """A blob being written: feed chunks, then `commit` it under its verified digest."""

    def __init__(self, store: "ContentStore", what: str = "a blob", algorithm: str = CANONICAL) -> None:
        self._store = store
        self.guard = store.reserve.guard(what)
        import tempfile  # here, as shutil below: reading a blob (most commands) needs neither

        try:
            fd, name = tempfile.mkstemp(dir=store.ingest_dir, prefix=f"{TMP_PREFIX}{os.getpid()}-")
        except OSError as e:
            raise self.guard.full() if is_full(e) else e from None
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hasher = Hasher(algorithm)

    def require(self, size: int) -> None:
        """Refuse at once (NoSpace) a blob of `size` bytes that the reserve leaves no room for."""
        self.guard.require(size - self.size)

    def write(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self.guard.charge(len(chunk))
        try:
            self._file.write(chunk)
        except OSError as e:
            raise self.guard.full() if is_full(e) else e from None

    def flush(self) -> None:
        """Compressors flush their writer; durability comes from the fsync in `commit`."""

    @property
    def size(self) -> int:
        return self._hasher.size

    @property
    def digest(self) -> str:
        return self._hasher.digest

    def commit(self, expected: str | None = None, expected_size: int | None = None) -> str:
        """Verify and publish the blob; on mismatch nothing becomes visible."""
        digest = self._hasher.digest
        try:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as e:
                raise self.guard.full() if is_full(e) else e from None
            self._file.close()
            if expected is not None and validate(expected) != digest:
                raise CorruptContent(f"digest mismatch: expected {expected}, got {digest}")
            if expected_size is not None and expected_size != self._hasher.size:
                raise CorruptContent(
                    f"size mismatch for {digest}: expected {expected_size} bytes, got {self._hasher.size}"
                )
            target = self._store.path(digest)
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                self.path.unlink()
            else:
                os.chmod(self.path, 0o644)
                os.rename(self.path, target)
        except BaseException:
            self.abort()
            raise
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            try:
                self._file.close()
            except OSError:  # the buffered tail could not be written (a full disk): it is discarded
                pass
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Ingest":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


class ContentStore:
    """Blobs on disk. Safe to share between processes: writes are atomic renames."""

    def __init__(self, root: str | os.PathLike, reserve: Reserve | None = None) -> None:
        self.root = Path(root)
        self.reserve = reserve or Reserve(os.fspath(root))  # no reserve given: not checked
        self.blobs_root = self.root / "blobs"
        self.ingest_dir = self.root / "ingest"
        (self.blobs_root / CANONICAL).mkdir(parents=True, exist_ok=True)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.blobs_root / algorithm_of(digest) / hex_of(digest)

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def ingest(self, what: str = "a blob", algorithm: str = CANONICAL) -> Ingest:
        return Ingest(self, what, algorithm)

    def ingest_for(self, expected: str | None, what: str = "a blob") -> Ingest:
        """An ingest hashing with the algorithm of the digest it will be checked against."""
        return Ingest(self, what, algorithm_of(expected) if expected else CANONICAL)

    def put(self, data: bytes, expected: str | None = None) -> str:
        with self.ingest_for(expected) as ing:
            ing.write(data)
            return ing.commit(expected)

    def put_stream(self, stream: BinaryIO, expected: str | None = None, expected_size: int | None = None,
                   what: str = "") -> str:
        """Ingest `stream`; `what` names it in errors (default: the blob, by its expected digest)."""
        with self.ingest_for(expected, what or (f"blob {expected}" if expected else "a blob")) as ing:
            if expected_size is not None:
                ing.require(expected_size)
            while chunk := stream.read(CHUNK):
                ing.write(chunk)
            return ing.commit(expected, expected_size)

    def put_file(self, path: str | os.PathLike, expected: str | None = None) -> str:
        """Ingest a file by copying it; the source is left in place."""
        with open(path, "rb") as f:
            return self.put_stream(f, expected)

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        for algorithm in ALGORITHMS:
            try:
                entries = list(os.scandir(self.blobs_root / algorithm))
            except FileNotFoundError:
                continue
            for entry in entries:
                yield f"{algorithm}:{entry.name}"

    def verify(self, digest: str) -> bool:
        """Re-hash a blob; used by `system check`."""
        h = Hasher(algorithm_of(digest))
        with self.open(digest) as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.digest == digest

    def stray_ingests(self) -> list[Path]:
        """Ingest files whose writer died (a live process's ingest is left alone)."""
        return [p for p in self.ingest_dir.iterdir() if not owner_alive(p.name)]

    def clear_ingests(self) -> int:
        n = 0
        for p in self.stray_ingests():
            if p.is_dir():
                import shutil

                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            n += 1
        return n
