"""A dockerfile.v0 solve: the frontend's attributes read into dockyard's BuildOptions, the
context and Dockerfile fetched over the client's session, dockyard's builder run, and its
progress turned into BuildKit's status stream (vertexes, logs) that buildx renders.

One builder, two front doors: everything past the options and the context is the same code
the classic POST /build and `dockyard build` run, with the same cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from dockyard.buildkit.h2grpc import GrpcError, INVALID_ARGUMENT, UNIMPLEMENTED, UNKNOWN, CANCELLED
from dockyard.buildkit.session import Session, write_secret
from dockyard.builder.progress import Progress, Step

FRONTEND = "dockerfile.v0"
# attributes that change nothing here: provenance/SBOM requests (the moby exporter of a
# dockerd without the containerd store drops them too), cache hints, the caps handshake
_IGNORED = ("attest:", "frontend.caps", "cache-imports", "cache-from", "contextsubdir",
            "requestid", "local-sessionid:", "input-metadata:", "source-date-epoch", "build-arg:BUILDKIT_")
_NETWORK_MODES = {"sandbox": "default", "none": "none", "host": "host", "": "default"}


def _timestamp(when: float | None = None):
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromNanoseconds(int((when if when is not None else time.time()) * 1e9))
    return stamp


class Job:
    """One build (a Solve's Ref): the status updates so far, for any number of Status streams."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.updates: list[bytes] = []
        self.finished = False
        self.cancelled = False
        self.results: dict[str, object] = {}          # gateway result ID -> image
        loop = asyncio.get_running_loop()
        self.session_id: asyncio.Future = loop.create_future()  # set by Control.Solve, awaited by the gateway
        self.returned: asyncio.Future = loop.create_future()    # the gateway's Return: an image, or its error
        self._wake = asyncio.Event()

    def publish(self, update: bytes) -> None:
        self.updates.append(update)
        self._wake.set()

    def finish(self) -> None:
        self.finished = True
        self._wake.set()

    async def changed(self) -> None:
        self._wake.clear()
        await self._wake.wait()


class Jobs:
    """Builds by Ref; a finished one is kept a while, as a Status call may come late."""

    KEEP = 64

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def get(self, ref: str) -> Job:
        job = self._jobs.get(ref)
        if job is None:
            job = self._jobs[ref] = Job(ref)
            finished = [r for r, j in self._jobs.items() if j.finished]
            for old in finished[:max(0, len(finished) - self.KEEP)]:
                del self._jobs[old]
        return job


class StatusProgress(Progress):
    """The builder's steps as BuildKit vertexes, each update a serialized StatusResponse handed
    to `publish`; called from the build's threads. `gone` says the client has left."""

    def __init__(self, ref: str, publish: Callable[[bytes], None], gone: Callable[[], bool]) -> None:
        super().__init__()
        self.ref, self.publish, self.gone = ref, publish, gone
        self.began: dict[int, float] = {}

    def _digest(self, step: Step) -> str:
        return "sha256:" + hashlib.sha256(f"{self.ref}/{step.num}".encode()).hexdigest()

    def _send(self, **fields) -> None:
        from dockyard.buildkit.protos.control_pb2 import StatusResponse

        self.publish(StatusResponse(**fields).SerializeToString())

    def _vertex(self, step: Step, done: bool = False, error: str = ""):
        from dockyard.buildkit.protos.control_pb2 import Vertex

        vertex = Vertex(digest=self._digest(step), name=step.label, started=_timestamp(self.began[step.num]),
                        cached=step.status == "cached", error=error)
        if done:
            vertex.completed.CopyFrom(_timestamp())
        return vertex

    def _started(self, step: Step) -> None:
        self.began[step.num] = time.time()
        self._send(vertexes=[self._vertex(step)])

    def output(self, step: Step, data: bytes, stream: int = 1) -> None:
        from dockyard.buildkit.protos.control_pb2 import VertexLog

        self._send(logs=[VertexLog(vertex=self._digest(step), timestamp=_timestamp(), stream=stream, msg=data)])

    def _finished(self, step: Step, message: str) -> None:
        from dockyard.buildkit.protos.control_pb2 import VertexLog

        if message and step.status == "done":
            self._send(logs=[VertexLog(vertex=self._digest(step), timestamp=_timestamp(), stream=1,
                                       msg=message.encode() + b"\n")])
        self._send(vertexes=[self._vertex(step, done=True, error=message if step.status == "error" else "")])

    def transferred(self, step: Step, what: str, size: int) -> None:
        from dockyard.buildkit.protos.control_pb2 import VertexStatus

        now = _timestamp()
        self._send(statuses=[VertexStatus(ID=what, vertex=self._digest(step), name=what, current=size, timestamp=now,
                                          started=_timestamp(self.began[step.num]), completed=now)])

    def cancelled(self) -> bool:
        return self.gone()


def frontend_options(engine, opts: dict[str, str]):
    """BuildOptions from the dockerfile frontend's attributes; what is not served is an error
    naming it rather than a build that silently differs."""
    from dockyard.builder.builder import BuildOptions
    from dockyard.builder.sandbox import check_network
    from dockyard.errors import DockyardError
    from dockyard.network.files import parse_add_host
    from dockyard.oci.image import host_platform

    args = {k.removeprefix("build-arg:"): v for k, v in opts.items() if k.startswith("build-arg:")}
    labels = {k.removeprefix("label:"): v for k, v in opts.items() if k.startswith("label:")}
    for key in opts:
        if key.startswith("context:"):
            raise GrpcError(UNIMPLEMENTED, f"named build contexts ({key}) are not served by dockyard")
        known = key in ("filename", "target", "no-cache", "platform", "add-hosts", "force-network-mode",
                        "shm-size", "dockerfilekey", "contextkey", "image-resolve-mode")
        if not (known or key.startswith(("build-arg:", "label:", *_IGNORED))):
            raise GrpcError(UNIMPLEMENTED, f"the dockerfile frontend's option {key!r} is not served by dockyard")
    plat = host_platform()
    here = {f"{plat['os']}/{plat['architecture']}", f"{plat['os']}/{plat['architecture']}/{plat.get('variant', '')}"}
    for wanted in filter(None, opts.get("platform", "").split(",")):
        if wanted not in here:
            raise GrpcError(UNIMPLEMENTED, f"platform {wanted} is not served: dockyard builds for "
                                           f"{plat['os']}/{plat['architecture']} only")
    hosts = []
    for entry in filter(None, opts.get("add-hosts", "").replace(",", " ").split()):
        name, sep, address = entry.partition("=")
        if not sep:
            name, _, address = entry.partition(":")
        hosts.append(f"{name}:{address}")
    network = _NETWORK_MODES.get(opts.get("force-network-mode", ""))
    if network is None:
        raise GrpcError(INVALID_ARGUMENT, f"invalid force-network-mode {opts['force-network-mode']!r}")
    limits = {}
    if shm := opts.get("shm-size"):
        if not shm.isdigit():
            raise GrpcError(INVALID_ARGUMENT, f"invalid shm-size {shm!r}")
        limits["shm_size"] = int(shm)
    epoch = args.get("SOURCE_DATE_EPOCH")
    try:
        for entry in hosts:
            parse_add_host(entry, "0.0.0.0")
        check_network(engine, network)
    except DockyardError as err:
        raise GrpcError(INVALID_ARGUMENT, err.message) from None
    return BuildOptions(build_args=args, labels=labels, target=opts.get("target") or None,
                        no_cache="no-cache" in opts, pull=opts.get("image-resolve-mode") == "pull", network=network, extra_hosts=hosts, limits=limits,
                        source_date_epoch=int(epoch) if epoch and epoch.isdigit() else None)


class SessionSecrets(dict):
    """BuildOptions.secrets (ID -> file) filled on first use from the client's session."""

    def __init__(self, session: Session, loop: asyncio.AbstractEventLoop, directory: Path) -> None:
        super().__init__()
        self.session, self.loop, self.directory = session, loop, directory

    def get(self, secret_id: str, default=None):
        if secret_id not in self:
            data = asyncio.run_coroutine_threadsafe(self.session.secret(secret_id), self.loop).result()
            if data is None:
                return default
            self[secret_id] = write_secret(self.directory, secret_id, data)
        return self[secret_id]


class SessionAgents(dict):
    """BuildOptions.ssh (ID -> agent socket) made on first use: a socket that forwards to the
    client's agent over its session. `close` stops them once the build is done."""

    def __init__(self, session: Session, loop: asyncio.AbstractEventLoop, directory: Path) -> None:
        super().__init__()
        self.session, self.loop, self.directory = session, loop, directory
        self.servers: list = []

    def get(self, agent_id: str, default=None):
        if agent_id not in self:
            path = self.directory / f"agent-{len(self.servers)}.sock"
            server = asyncio.run_coroutine_threadsafe(self.session.agent(agent_id, path), self.loop).result()
            if server is None:
                return default
            self.servers.append(server)
            self[agent_id] = str(path)
        return self[agent_id]

    def close(self) -> None:
        for server in self.servers:
            self.loop.call_soon_threadsafe(server.close)


def failure(err: BaseException) -> GrpcError:
    """A failed build in BuildKit's words (buildx prints them after `failed to solve:`)."""
    from dockyard.builder.builder import BuildCancelled
    from dockyard.builder.run import StepFailed
    from dockyard.errors import DockyardError

    if isinstance(err, BuildCancelled):
        return GrpcError(CANCELLED, "context canceled")
    if isinstance(err, StepFailed) and err.argv:
        return GrpcError(UNKNOWN, f"process \"{' '.join(err.argv)}\" did not complete successfully: "
                                  f"exit code: {err.code}")
    if isinstance(err, DockyardError):
        return GrpcError(UNKNOWN, err.message)
    return GrpcError(UNKNOWN, f"{type(err).__name__}: {err}")


async def _sync_step(progress: StatusProgress, label: str, what: str, work) -> None:
    """A file sync shown as BuildKit shows it: a vertex, and `transferring WHAT: SIZE done`."""
    step = progress.start(label)
    try:
        size = await work
    except BaseException as err:
        progress.finish(step, "error", str(getattr(err, "message", err)))
        raise
    progress.transferred(step, f"transferring {what}:", size)
    progress.finish(step, "done")


async def dockerfile_build(engine, job: Job, session: Session, opts: dict[str, str]):
    """Fetch the Dockerfile and context over `session` and build; returns the image."""
    from dockyard.builder.builder import build_image
    from dockyard.builder.context import BuildContext, check_dockerfile_size, read_ignore

    loop = asyncio.get_running_loop()
    options = await loop.run_in_executor(None, frontend_options, engine, opts)
    progress = StatusProgress(job.ref, lambda update: loop.call_soon_threadsafe(job.publish, update),
                              lambda: job.cancelled)
    filename = opts.get("filename") or "Dockerfile"
    work = Path(tempfile.mkdtemp(prefix=f"dockyard-buildkit-{engine.id}-"))
    handed_over = False
    try:
        dockerfile_dir, context_dir, secrets_dir = work / "dockerfile", work / "context", work / "secrets"
        for d in (dockerfile_dir, context_dir, secrets_dir):
            d.mkdir(mode=0o700)
        dockerfile_key = opts.get("dockerfilekey") or "dockerfile"
        context_key = opts.get("contextkey") or "context"
        await _sync_step(progress, f"[internal] load build definition from {filename}", "dockerfile",
                         session.sync(dockerfile_key, dockerfile_dir, includes=[filename]))
        path = dockerfile_dir / filename
        if not path.is_file():
            raise GrpcError(UNKNOWN, f"failed to read dockerfile: open {filename}: no such file or directory")
        dockerfile = path.read_bytes()
        check_dockerfile_size(dockerfile, filename)
        await _sync_step(progress, "[internal] load .dockerignore", "context",
                         session.sync(context_key, context_dir, includes=[".dockerignore", f"{filename}.dockerignore"]))
        ignore = read_ignore(context_dir, filename)
        excludes = [p.strip() for p in (context_dir / ".dockerignore").read_text(errors="replace").splitlines()
                    if p.strip() and not p.lstrip().startswith("#")] if (context_dir / ".dockerignore").is_file() else []
        await _sync_step(progress, "[internal] load build context", "context",
                         session.sync(context_key, context_dir, excludes=excludes))
        options.secrets = SessionSecrets(session, loop, secrets_dir)
        options.ssh = agents = SessionAgents(session, loop, secrets_dir)
        context = BuildContext(context_dir, ignore, dockerfile, filename)

        def base_image(name: str, force_pull: bool):
            return _base_image(engine, session, loop, name, force_pull)

        def build():
            try:
                return build_image(engine, context, options, progress, base_image)
            finally:
                agents.close()
                shutil.rmtree(work, ignore_errors=True)

        future = loop.run_in_executor(None, build)
        handed_over = True
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancelled = True  # the builder stops its running step and cleans up
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # its BuildCancelled is expected
            raise
    except GrpcError:
        raise
    except Exception as err:
        raise failure(err) from None
    finally:
        if not handed_over:
            shutil.rmtree(work, ignore_errors=True)


def _base_image(engine, session: Session, loop, name: str, force_pull: bool):
    """A FROM image: the local one unless missing or pull was asked, else pulled with the
    client's login for that registry (the session's Auth service)."""
    from dockyard.distribution.credentials import Credentials
    from dockyard.distribution.endpoints import endpoint_host
    from dockyard.distribution.images import pull_image
    from dockyard.oci.reference import parse_normalized

    image = None if force_pull else engine.images.find(name)
    if image is not None:
        return image
    ref = parse_normalized(name).with_default_tag()
    login = asyncio.run_coroutine_threadsafe(session.credentials(endpoint_host(ref.domain)), loop).result()
    credentials = Credentials(username=login[0], password=login[1]) if login else None
    pull_image(engine.images, ref, credentials=credentials, insecure_registries=engine.insecure_registries)
    return engine.images.get(name)
