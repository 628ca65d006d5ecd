"""The gRPC services served on POST /grpc: moby.buildkit.v1.Control and the gateway
(moby.buildkit.v1.frontend.LLBBridge) a buildx client drives its build through.

buildx (and Compose, which embeds it) calls Control.Solve with no frontend and no definition,
and meanwhile, on the same connection, LLBBridge.Ping / Solve(dockerfile.v0) / Return under a
`buildkit-controlapi-buildid` header naming the same Ref: the gateway Solve runs the build,
Return hands its result back, and Control.Solve exports it (tags it) and answers. buildctl-style
clients call Control.Solve with the dockerfile.v0 frontend directly; both end in the same
build. LLB definitions (other frontends, `buildctl build` without a frontend) are not served.
"""

from __future__ import annotations

import asyncio
import json

from dockyard import __version__
from dockyard.buildkit.h2grpc import GrpcError, INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, Stream
from dockyard.buildkit.session import Sessions
from dockyard.buildkit.frontend import FRONTEND
from dockyard.buildkit.jobs import Jobs
from dockyard.buildkit.solve import dockerfile_build

BUILD_ID = "buildkit-controlapi-buildid"
# the gateway capabilities served: a result is handed back with Return, refs in the new wire format
CAPS = ("solve.base", "solve.inlinereturn", "readfile", "return", "proto.refarray", "frontend.inputs")
WORKER_ID = "dockyard"


class BuildKit:
    """The BuildKit state of one API server: client sessions and builds."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.sessions = Sessions()
        self.jobs = Jobs()

    def handlers(self) -> dict:
        control = "/moby.buildkit.v1.Control/"
        bridge = "/moby.buildkit.v1.frontend.LLBBridge/"
        return {control + "Solve": self.solve, control + "Status": self.status,
                control + "ListWorkers": self.list_workers, control + "Info": self.info,
                control + "DiskUsage": self.disk_usage, control + "Prune": self.prune,
                bridge + "Ping": self.ping, bridge + "Solve": self.gateway_solve, bridge + "Return": self.gateway_return,
                bridge + "Inputs": self.gateway_inputs}

    # -- Control -------------------------------------------------------------------------
    async def solve(self, stream: Stream) -> None:
        from dockyard.buildkit.exporters import IMAGE, export, export_cache
        from dockyard.buildkit.protos.control_pb2 import SolveRequest, SolveResponse
        from dockyard.buildkit.solve import failure, job_progress
        from dockyard.errors import DockyardError

        req = SolveRequest.FromString(await _request(stream))
        job = self.jobs.get(req.Ref)
        try:
            try:
                exports, cache_exports = _served(req)
            except GrpcError as err:  # the gateway calls of this build end with the same error
                job.refuse(err)
                raise
            if not job.session_id.done():
                job.session_id.set_result(req.Session)
            if req.Frontend:
                session = await self.sessions.get(req.Session)
                image = await dockerfile_build(self.engine, job, session, dict(req.FrontendAttrs))
            else:
                image = await job.returned
            reply = {}
            if image is not None:
                needs_session = cache_exports or any(e.type not in IMAGE or e.flag("push") for e in exports)
                session = await self.sessions.get(req.Session) if needs_session else None
                try:
                    reply = await export(self.engine, session, job_progress(job), image, exports)
                    reply.update(await export_cache(self.engine, session, job_progress(job), image, cache_exports))
                except DockyardError as err:  # the store or a registry refused: BuildKit's error shape
                    raise failure(err) from None
        finally:
            job.finish()
        await stream.send(SolveResponse(ExporterResponse=reply).SerializeToString())

    async def status(self, stream: Stream) -> None:
        from dockyard.buildkit.protos.control_pb2 import StatusRequest

        job = self.jobs.get(StatusRequest.FromString(await _request(stream)).Ref)
        sent = 0
        while True:
            while sent < len(job.updates):
                await stream.send(job.updates[sent])
                sent += 1
            if job.finished or stream.cancelled.is_set():
                return
            waits = [asyncio.ensure_future(job.changed()), asyncio.ensure_future(stream.cancelled.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()

    async def list_workers(self, stream: Stream) -> None:
        from dockyard.buildkit.protos.control_pb2 import ListWorkersResponse

        await _request(stream)
        await stream.send(ListWorkersResponse(record=[self._worker()]).SerializeToString())

    def _worker(self):
        from dockyard.buildkit.protos.ops_pb2 import Platform
        from dockyard.buildkit.protos.worker_pb2 import WorkerRecord
        from dockyard.oci.image import host_platform

        plat = host_platform()
        return WorkerRecord(ID=WORKER_ID, Labels={"org.mobyproject.buildkit.worker.executor": "dockyard",
                                                  "org.mobyproject.buildkit.worker.snapshotter": self.engine.storage_driver,
                                                  "org.mobyproject.buildkit.worker.moby.host-gateway-ip": "host-gateway"},
                            platforms=[Platform(OS=plat["os"], Architecture=plat["architecture"],
                                                Variant=plat.get("variant", ""))],
                            BuildkitVersion=_version())

    async def info(self, stream: Stream) -> None:
        from dockyard.buildkit.protos.control_pb2 import InfoResponse

        await _request(stream)
        await stream.send(InfoResponse(buildkitVersion=_version()).SerializeToString())

    async def disk_usage(self, stream: Stream) -> None:
        from dockyard.api.requests import blocking
        from dockyard.buildkit.protos.control_pb2 import DiskUsageResponse, UsageRecord

        await _request(stream)
        count, size = await blocking(self.engine.build_cache.usage)
        # the cache keeps no per-record sizes or times: one record stands for all of it
        records = [UsageRecord(ID="dockyard-build-cache", Size=size, UsageCount=count, RecordType="regular",
                               Description=f"{count} cached build steps")] if count else []
        await stream.send(DiskUsageResponse(record=records).SerializeToString())

    async def prune(self, stream: Stream) -> None:
        from dockyard.api.requests import blocking
        from dockyard.buildkit.protos.control_pb2 import PruneRequest, UsageRecord

        req = PruneRequest.FromString(await _request(stream))
        if req.filter:
            raise GrpcError(UNIMPLEMENTED, "prune filters are not served by dockyard")
        removed, freed = await blocking(self.engine.build_cache.prune, all=req.all)
        if removed:  # the cache counts what it dropped; one record carries the total
            await stream.send(UsageRecord(ID=f"{removed} records", Size=freed).SerializeToString())

    # -- the gateway ---------------------------------------------------------------------
    def _job(self, stream: Stream):
        ref = (stream.meta(BUILD_ID) or [""])[0]
        if not ref:
            raise GrpcError(INVALID_ARGUMENT, f"no {BUILD_ID} header: the gateway serves a Control.Solve's build")
        return self.jobs.get(ref)

    async def ping(self, stream: Stream) -> None:
        from dockyard.buildkit.protos.gateway_pb2 import APICap, PongResponse

        await _request(stream)
        self._job(stream)
        pong = PongResponse(FrontendAPICaps=[APICap(ID=c, Enabled=True) for c in CAPS],
                            LLBCaps=[APICap(ID=c, Enabled=True) for c in ("source.image", "source.local")],
                            Workers=[self._worker()])
        await stream.send(pong.SerializeToString())

    async def gateway_solve(self, stream: Stream) -> None:
        from dockyard.api.requests import blocking
        from dockyard.buildkit.protos.gateway_pb2 import Ref, Result, SolveRequest, SolveResponse

        req = SolveRequest.FromString(await _request(stream))
        job = self._job(stream)
        if req.HasField("Definition") and getattr(req.Definition, "def"):
            raise GrpcError(UNIMPLEMENTED, "LLB definitions are not served by dockyard: use the dockerfile.v0 frontend")
        if req.Frontend != FRONTEND:
            raise GrpcError(UNIMPLEMENTED, f"frontend {req.Frontend or '(none)'!r} is not served by dockyard "
                                           f"(only {FRONTEND})")
        if req.FrontendInputs:
            raise GrpcError(UNIMPLEMENTED, "frontend inputs (named contexts from other builds) are not served by dockyard")
        session = await self.sessions.get(await job.session_id)
        image = await dockerfile_build(self.engine, job, session, dict(req.FrontendOpt))
        result_id = f"{job.ref}/{len(job.results)}"
        job.results[result_id] = image
        config = json.dumps(await blocking(self.engine.images.config, image), separators=(",", ":")).encode()
        result = Result(ref=Ref(id=result_id), metadata={"containerimage.config": config})
        await stream.send(SolveResponse(result=result).SerializeToString())

    async def gateway_return(self, stream: Stream) -> None:
        from dockyard.buildkit.protos.gateway_pb2 import ReturnRequest, ReturnResponse

        req = ReturnRequest.FromString(await _request(stream))
        job = self._job(stream)
        if not job.returned.done():
            if req.HasField("error") and req.error.code:
                job.returned.set_exception(GrpcError(req.error.code, req.error.message))
            else:
                kind = req.result.WhichOneof("result")
                result_id = req.result.ref.id if kind == "ref" else req.result.refDeprecated if kind == "refDeprecated" else ""
                if kind in ("ref", "refDeprecated", None) and not result_id:
                    job.returned.set_result(None)  # nothing built (buildx asks for the caps this way)
                elif kind not in ("ref", "refDeprecated"):
                    job.returned.set_exception(GrpcError(UNIMPLEMENTED, "multi-platform results are not served by dockyard"))
                elif result_id not in job.results:
                    job.returned.set_exception(GrpcError(NOT_FOUND, f"no result {result_id!r} in this build"))
                else:
                    job.returned.set_result(job.results[result_id])
        await stream.send(ReturnResponse().SerializeToString())

    async def gateway_inputs(self, stream: Stream) -> None:
        from dockyard.buildkit.protos.gateway_pb2 import InputsResponse

        await _request(stream)
        await stream.send(InputsResponse().SerializeToString())


def _served(req):
    """A Control.Solve's exporters and cache exports, once it is known to ask only for what
    dockyard serves."""
    from dockyard.buildkit.exporters import parse, parse_cache_exports

    exporters = parse(req), parse_cache_exports(req)
    if req.HasField("Definition") and getattr(req.Definition, "def"):
        raise GrpcError(UNIMPLEMENTED, "LLB definitions are not served by dockyard: use the dockerfile.v0 frontend")
    if req.Frontend and req.Frontend != FRONTEND:
        raise GrpcError(UNIMPLEMENTED, f"frontend {req.Frontend!r} is not served by dockyard (only {FRONTEND})")
    return exporters


async def _request(stream: Stream) -> bytes:
    message = await stream.recv()
    if message is None:
        raise GrpcError(INVALID_ARGUMENT, "no request message")
    return message


def _version():
    from dockyard.buildkit.protos.worker_pb2 import BuildkitVersion

    return BuildkitVersion(package="dockyard", version=__version__, revision="", dockerfileVersion="dockyard")
