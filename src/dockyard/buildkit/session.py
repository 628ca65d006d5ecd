"""Client sessions (POST /session): the services a client exposes for its builds, by session ID.

A buildx client opens its session before it calls Solve, naming the session in the Solve
request; the two race, so a build waits a little for its session to attach. The client lists
the gRPC methods it serves in X-Docker-Expose-Session-Grpc-Method; calling one it did not list
is an error of ours, so each helper checks first.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dockyard.buildkit.h2grpc import Connection, GrpcError, NOT_FOUND, UNAVAILABLE

AUTH = "/moby.filesync.v1.Auth/Credentials"
SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret"
CHECK_AGENT = "/moby.sshforward.v1.SSH/CheckAgent"
FORWARD_AGENT = "/moby.sshforward.v1.SSH/ForwardAgent"
ATTACH_WAIT = 10.0  # seconds a Solve waits for its session to attach


class Session:
    def __init__(self, session_id: str, name: str, conn: Connection, methods: set[str]) -> None:
        self.id, self.name, self.conn, self.methods = session_id, name, conn, methods

    def serves(self, method: str) -> bool:
        return method in self.methods

    async def sync(self, dir_name: str, dest: Path, includes=(), excludes=(), follow=()) -> int:
        from dockyard.buildkit.filesync import DIFFCOPY, receive

        if not self.serves(DIFFCOPY):
            raise GrpcError(NOT_FOUND, f"the client's session does not share files (no {DIFFCOPY})")
        return await receive(self.conn, dir_name, dest, includes, excludes, follow)

    def _check_file_send(self) -> None:
        from dockyard.buildkit.filesync import FILESEND

        if not self.serves(FILESEND):  # BuildKit's words, with its lower-case method name
            raise GrpcError(NOT_FOUND, "method /moby.filesync.v1.FileSend/diffcopy not supported by the client")

    async def send_dir(self, root: Path, exporter_id: int) -> int:
        """Copy `root` to the client's output directory for exporter `exporter_id`."""
        from dockyard.buildkit.filesync import send

        self._check_file_send()
        return await send(self.conn, root, exporter_id)

    async def file_writer(self, exporter_id: int, meta: dict[str, str]):
        """A FileWriter to the client's output file for exporter `exporter_id`."""
        from dockyard.buildkit.filesync import FileWriter

        self._check_file_send()
        return await FileWriter.open(self.conn, exporter_id, meta)

    async def credentials(self, host: str) -> tuple[str, str] | None:
        """The client's login for a registry host, or None (anonymous)."""
        from dockyard.buildkit.protos.auth_pb2 import CredentialsRequest, CredentialsResponse

        if not self.serves(AUTH):
            return None
        reply = CredentialsResponse.FromString(await self.conn.unary(AUTH, CredentialsRequest(Host=host)
                                                                     .SerializeToString()))
        return (reply.Username, reply.Secret) if reply.Secret else None

    async def login(self, domain: str):
        """Credentials for the registry `domain` from the client's login, or None (anonymous)."""
        from dockyard.distribution.credentials import Credentials
        from dockyard.distribution.endpoints import endpoint_host

        login = await self.credentials(endpoint_host(domain))
        return Credentials(username=login[0], password=login[1]) if login else None

    async def secret(self, secret_id: str) -> bytes | None:
        """A secret's value, or None when the client has no secret by that ID."""
        from dockyard.buildkit.protos.secrets_pb2 import GetSecretRequest, GetSecretResponse

        if not self.serves(SECRET):
            return None
        try:
            raw = await self.conn.unary(SECRET, GetSecretRequest(ID=secret_id).SerializeToString())
        except GrpcError as err:
            if err.code == NOT_FOUND:
                return None
            raise
        return GetSecretResponse.FromString(raw).data


    async def agent(self, agent_id: str, path: Path) -> asyncio.AbstractServer | None:
        """A Unix socket at `path` that forwards each connection to the client's SSH agent
        `agent_id` (a ForwardAgent stream each); None when the client forwards no such agent."""
        from dockyard.buildkit.protos.ssh_pb2 import BytesMessage, CheckAgentRequest

        if not self.serves(FORWARD_AGENT):
            return None
        if self.serves(CHECK_AGENT):
            try:
                await self.conn.unary(CHECK_AGENT, CheckAgentRequest(ID=agent_id).SerializeToString())
            except GrpcError:
                return None

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            stream = await self.conn.call(FORWARD_AGENT, {"buildkit.ssh.id": [agent_id]})

            async def upstream() -> None:
                while data := await reader.read(65536):
                    await stream.send(BytesMessage(data=data).SerializeToString())
                self.conn.close_send(stream)

            async def downstream() -> None:
                while (message := await stream.recv()) is not None:
                    writer.write(BytesMessage.FromString(message).data)
                    await writer.drain()

            tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                await tasks[1]
            except (ConnectionError, GrpcError):
                pass
            finally:
                for task in tasks:
                    task.cancel()
                self.conn.streams.pop(stream.id, None)
                writer.close()

        server = await asyncio.start_unix_server(forward, path=str(path))
        os.chmod(path, 0o600)
        return server


class Sessions:
    """The attached sessions of one server."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._changed = asyncio.Condition()

    async def serve(self, session: Session) -> None:
        """Keep `session` available until its connection closes."""
        async with self._changed:
            self._sessions[session.id] = session
            self._changed.notify_all()
        try:
            await session.conn.wait_closed()
        finally:
            async with self._changed:
                if self._sessions.get(session.id) is session:
                    del self._sessions[session.id]

    async def get(self, session_id: str, wait: float = ATTACH_WAIT) -> Session:
        async def attached() -> Session:
            async with self._changed:
                await self._changed.wait_for(lambda: session_id in self._sessions)
                return self._sessions[session_id]

        if not session_id:
            raise GrpcError(UNAVAILABLE, "the build has no session: local sources cannot be read")
        try:
            return await asyncio.wait_for(attached(), wait)
        except TimeoutError:
            raise GrpcError(UNAVAILABLE, f"no active session for {session_id}: context deadline exceeded") from None


def write_secret(directory: Path, secret_id: str, data: bytes) -> str:
    """A secret's value as a private file the builder can bind into a RUN step."""
    path = directory / f"secret-{len(os.listdir(directory))}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return str(path)
