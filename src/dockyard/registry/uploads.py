"""Blob upload sessions: resumable, one directory each under `<root>/uploads/<uuid>/`.

The data file grows with each PATCH and only becomes a blob once PUT names a digest that
matches it, so a half-finished or wrong upload is never visible. The running sha256 is kept
in memory to avoid re-reading the file at completion; after a restart it is rebuilt from the
file, so sessions survive the server. The algorithm is only known at completion: a sha512
digest rehashes the file once then (sha256 is what clients use, and it pays nothing extra).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from dockyard.oci.digest import CANONICAL, Hasher
from dockyard.registry import errors

_UUID_RE = re.compile(r"^[0-9a-f]{32}$")
READ_CHUNK = 1 << 20


@dataclass
class _State:
    hasher: Hasher
    size: int
    lock: asyncio.Lock


class Uploads:
    def __init__(self, uploads_dir: Path) -> None:
        self.dir = uploads_dir
        self._states: dict[str, _State] = {}

    def start(self, name: str) -> "Upload":
        uid = uuidlib.uuid4().hex
        d = self.dir / uid
        d.mkdir(parents=True)
        (d / "data").touch()
        (d / "info.json").write_text(json.dumps({"name": name, "started": time.time()}))
        return Upload(self, name, uid, d)

    def get(self, name: str, uid: str) -> "Upload":
        """The session `uid` of repository `name`; BLOB_UPLOAD_UNKNOWN for any other."""
        d = self.dir / uid
        try:
            if not _UUID_RE.match(uid) or json.loads((d / "info.json").read_text())["name"] != name:
                raise FileNotFoundError
        except (FileNotFoundError, ValueError, KeyError):
            raise errors.blob_upload_unknown(detail={"uuid": uid}) from None
        return Upload(self, name, uid, d)

    def _state(self, upload: "Upload", algorithm: str = CANONICAL) -> _State:
        """The running hash of an upload, rebuilt from its file if missing, stale or of
        another algorithm."""
        size = upload.size
        state = self._states.get(upload.uuid)
        if state is None or state.size != size or state.hasher.algorithm != algorithm:
            hasher = Hasher(algorithm)
            with open(upload.data_path, "rb") as f:
                while chunk := f.read(READ_CHUNK):
                    hasher.update(chunk)
            lock = state.lock if state is not None else asyncio.Lock()
            state = self._states[upload.uuid] = _State(hasher, size, lock)
        return state

    def forget(self, uid: str) -> None:
        self._states.pop(uid, None)


class Upload:
    def __init__(self, uploads: Uploads, name: str, uid: str, d: Path) -> None:
        self._uploads = uploads
        self.name = name
        self.uuid = uid
        self.dir = d
        self.data_path = d / "data"

    @property
    def size(self) -> int:
        try:
            return self.data_path.stat().st_size
        except FileNotFoundError:
            raise errors.blob_upload_unknown(detail={"uuid": self.uuid}) from None

    @property
    def location(self) -> str:
        return f"/v2/{self.name}/blobs/uploads/{self.uuid}"

    def headers(self) -> dict[str, str]:
        """Headers every upload response carries so the client knows where and how far it is."""
        return {"Location": self.location, "Range": self.range_header(), "Docker-Upload-UUID": self.uuid}

    def range_header(self) -> str:
        """The `Range` header value: the inclusive byte range received so far ("0-0" if none)."""
        return f"0-{max(self.size - 1, 0)}"

    async def append(self, chunks: AsyncIterator[bytes], start: int | None = None) -> int:
        """Append a chunk; `start` (from Content-Range) must be the current size, else 416."""
        state = self._uploads._state(self)
        async with state.lock:
            if start is not None and start != state.size:
                raise errors.range_invalid(
                    f"chunk starts at byte {start} but the upload has {state.size} bytes",
                    headers=self.headers(),
                )
            written = 0
            with open(self.data_path, "ab") as f:
                async for chunk in chunks:
                    f.write(chunk)
                    state.hasher.update(chunk)
                    written += len(chunk)
                    state.size += len(chunk)
            return written

    def digest(self, algorithm: str = CANONICAL) -> str:
        return self._uploads._state(self, algorithm).hasher.digest

    def cancel(self) -> None:
        self._uploads.forget(self.uuid)
        shutil.rmtree(self.dir, ignore_errors=True)
