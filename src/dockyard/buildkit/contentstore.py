"""The content stores a client offers on its session (containerd's Content service), where
`--cache-to/--cache-from type=local,dest|src=DIR` keep their blobs: the engine writes blobs
there and reads them back, naming the store (`local:DIR`) in the
`buildkit-attachable-store-id` header, as BuildKit does. The client keeps the OCI layout's
index.json itself (from the Solve's `cache.manifest` answer).
"""

from __future__ import annotations

import asyncio
import os

from dockyard.buildkit.h2grpc import Connection, GrpcError, INTERNAL, NOT_FOUND

WRITE = "/containerd.services.content.v1.Content/Write"
READ = "/containerd.services.content.v1.Content/Read"
STORE_ID = "buildkit-attachable-store-id"
ALREADY_EXISTS = 6
CHUNK = 1 << 20


def _check(session, method: str) -> Connection:
    if not session.serves(method):
        raise GrpcError(NOT_FOUND, f"the client's session offers no content store ({method})")
    return session.conn


async def write_blob(session, store: str, digest: str, path) -> None:
    """Copy the file at `path` (whose digest is `digest`) into the client's store `store`;
    a blob the store already has is left alone."""
    from dockyard.buildkit.protos.content_pb2 import COMMIT, STAT, WRITE as WRITE_DATA, WriteContentRequest

    conn = _check(session, WRITE)
    loop = asyncio.get_running_loop()
    stream = await conn.call(WRITE, {STORE_ID: [store]})
    try:
        async def ask(**fields) -> bool:
            """One request and its answer; False once the store ended the call (its status
            says why, or that it has the blob already)."""
            await stream.send(WriteContentRequest(ref=digest, expected=digest, **fields).SerializeToString())
            if await stream.recv() is not None:
                return True
            code = int(stream.trailers.get("grpc-status", INTERNAL))
            if code not in (0, ALREADY_EXISTS):
                conn.status(stream)
            return False

        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if not await ask(action=STAT, total=size):
                return
            offset = 0
            while data := await loop.run_in_executor(None, f.read, CHUNK):
                if not await ask(action=WRITE_DATA, offset=offset, data=data):
                    return
                offset += len(data)
            await ask(action=COMMIT, total=size, offset=offset)
        conn.close_send(stream)
        while await stream.recv() is not None:
            pass
        if int(stream.trailers.get("grpc-status", INTERNAL)) not in (0, ALREADY_EXISTS):
            conn.status(stream)
    finally:
        conn.streams.pop(stream.id, None)


async def read_blob(session, store: str, digest: str) -> bytes:
    """The blob `digest` from the client's store `store`."""
    from dockyard.buildkit.protos.content_pb2 import ReadContentRequest, ReadContentResponse

    conn = _check(session, READ)
    stream = await conn.call(READ, {STORE_ID: [store]})
    try:
        await stream.send(ReadContentRequest(digest=digest).SerializeToString())
        conn.close_send(stream)
        chunks = []
        while (raw := await stream.recv()) is not None:
            chunks.append(ReadContentResponse.FromString(raw).data)
        conn.status(stream)
        return b"".join(chunks)
    finally:
        conn.streams.pop(stream.id, None)
