"""The CRI's gRPC server: RuntimeService and ImageService on a unix socket, each call one
engine operation, dockyard's errors as gRPC status codes with their one-line message."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import threading

from dockyard import __version__
from dockyard.errors import Conflict, DockyardError, Forbidden, InvalidArgument, NotFound

log = logging.getLogger("dockyard.cri")
API_VERSION = "v1"
# runtime_handler -> HostConfig.Runtime: "" is the node's default (dockyard's own runtime)
HANDLERS = {"": "dockyard", "dockyard": "dockyard", "runc": "runc", "crun": "crun"}


def _protos():
    from dockyard.cri.protos import cri_runtime_v1_pb2 as pb, cri_runtime_v1_pb2_grpc as rpc
    return pb, rpc


def _answer(method):
    """Run a handler; a dockyard error becomes the matching gRPC status, never a traceback."""
    import grpc

    from dockyard.distribution.auth import Unauthorized
    codes = ((NotFound, grpc.StatusCode.NOT_FOUND), (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
             (Conflict, grpc.StatusCode.FAILED_PRECONDITION), (Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
             (Forbidden, grpc.StatusCode.PERMISSION_DENIED))

    @functools.wraps(method)
    def handle(self, request, context):
        try:
            return method(self, request, context)
        except TimeoutError as e:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(e))
        except DockyardError as e:
            code = next((c for kind, c in codes if isinstance(e, kind)), grpc.StatusCode.UNKNOWN)
            context.abort(code, e.message)
        except OSError as e:
            context.abort(grpc.StatusCode.INTERNAL, f"{method.__name__}: {e.strerror or e}")
    return handle


def servicers(engine, cni, stream_address: str = "127.0.0.1:0"):
    """The two services over `engine` and its pods' CNI plugins, as grpcio servicer objects,
    and the streaming server their Exec, Attach and PortForward URLs point at (not started)."""
    from dockyard.cri import events, stats, streaming
    from dockyard.cri.images import Images
    from dockyard.cri.sandboxes import Sandboxes
    from dockyard.cri.workloads import Workloads

    pb, rpc = _protos()
    sandboxes = Sandboxes(engine, pb, HANDLERS, cni)
    workloads = Workloads(engine, pb, sandboxes)
    images = Images(engine, pb)
    streams = streaming.Server(engine, workloads, sandboxes, stream_address)

    class Runtime(rpc.RuntimeServiceServicer):
        @_answer
        def Version(self, req, ctx):
            return pb.VersionResponse(version="0.1.0", runtime_name="dockyard", runtime_version=__version__,
                                      runtime_api_version=API_VERSION)

        @_answer
        def Status(self, req, ctx):
            why = cni.ready()
            ready = [pb.RuntimeCondition(type="RuntimeReady", status=True),
                     pb.RuntimeCondition(type="NetworkReady", status=not why,
                                         reason="NetworkPluginNotReady" if why else "", message=why)]
            handlers = [pb.RuntimeHandler(name=name, features=pb.RuntimeHandlerFeatures())
                        for name in HANDLERS if name]
            info = {"config": json.dumps({"root": str(engine.root), "runDir": str(engine.run_dir),
                                          "cniConfDir": cni.conf_dir, "cniBinDirs": list(cni.bin_dirs),
                                          "streamServer": f"{streams.host}:{streams.port}"})} if req.verbose else {}
            return pb.StatusResponse(status=pb.RuntimeStatus(conditions=ready), runtime_handlers=handlers, info=info)

        @_answer
        def UpdateRuntimeConfig(self, req, ctx):
            return pb.UpdateRuntimeConfigResponse()  # pods take addresses from the root's bridge

        @_answer
        def RunPodSandbox(self, req, ctx):
            return pb.RunPodSandboxResponse(pod_sandbox_id=sandboxes.run(req))

        @_answer
        def StopPodSandbox(self, req, ctx):
            sandboxes.stop(req.pod_sandbox_id)
            return pb.StopPodSandboxResponse()

        @_answer
        def RemovePodSandbox(self, req, ctx):
            sandboxes.remove(req.pod_sandbox_id)
            return pb.RemovePodSandboxResponse()

        @_answer
        def PodSandboxStatus(self, req, ctx):
            """With its containers' statuses, which the kubelet's evented PLEG reads."""
            answer = sandboxes.status(req.pod_sandbox_id, req.verbose)
            answer.containers_statuses.extend(workloads.status(m.id, False).status
                                              for m in sandboxes.members(answer.status.id))
            return answer

        @_answer
        def ListPodSandbox(self, req, ctx):
            return pb.ListPodSandboxResponse(items=sandboxes.list(req.filter))

        @_answer
        def CreateContainer(self, req, ctx):
            return pb.CreateContainerResponse(container_id=workloads.create(req))

        @_answer
        def StartContainer(self, req, ctx):
            workloads.start(req.container_id)
            return pb.StartContainerResponse()

        @_answer
        def StopContainer(self, req, ctx):
            workloads.stop(req.container_id, req.timeout)
            return pb.StopContainerResponse()

        @_answer
        def RemoveContainer(self, req, ctx):
            workloads.remove(req.container_id)
            return pb.RemoveContainerResponse()

        @_answer
        def ListContainers(self, req, ctx):
            return pb.ListContainersResponse(containers=workloads.list(req.filter))

        @_answer
        def ContainerStatus(self, req, ctx):
            return workloads.status(req.container_id, req.verbose)

        @_answer
        def ReopenContainerLog(self, req, ctx):
            workloads.reopen_log(req.container_id)
            return pb.ReopenContainerLogResponse()

        @_answer
        def ExecSync(self, req, ctx):
            return workloads.exec_sync(req.container_id, list(req.cmd), req.timeout)

        @_answer
        def Exec(self, req, ctx):
            c = workloads.get(req.container_id)
            if c.status != "running":
                raise Conflict(f"container {c.id} is not running")
            return pb.ExecResponse(url=streams.url("exec", {**streaming.check_exec(req), "container_id": c.id}))

        @_answer
        def Attach(self, req, ctx):
            c = workloads.get(req.container_id)
            if not (req.stdout or req.stderr or req.stdin):
                raise InvalidArgument("one of stdin, stdout and stderr must be set")
            if req.tty != c.config["Tty"]:
                raise InvalidArgument(f"tty {'on' if req.tty else 'off'} asked, but the container was made "
                                      f"with tty {'on' if c.config['Tty'] else 'off'}")
            return pb.AttachResponse(url=streams.url("attach", {"container_id": c.id, "tty": req.tty,
                                                                "stdin": req.stdin}))

        @_answer
        def PortForward(self, req, ctx):
            sb = sandboxes.get(req.pod_sandbox_id)
            return pb.PortForwardResponse(url=streams.url("portforward", {"pod_sandbox_id": sb.id,
                                                                          "ports": list(req.port)}))

        @_answer
        def UpdateContainerResources(self, req, ctx):
            workloads.update(req.container_id, req.linux)
            return pb.UpdateContainerResourcesResponse()

        @_answer
        def ContainerStats(self, req, ctx):
            return pb.ContainerStatsResponse(stats=stats.container(engine, pb, workloads.get(req.container_id)))

        @_answer
        def ListContainerStats(self, req, ctx):
            flt = req.filter
            chosen = workloads.list(pb.ContainerFilter(id=flt.id, pod_sandbox_id=flt.pod_sandbox_id,
                                                       label_selector=flt.label_selector,
                                                       state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING)))
            return pb.ListContainerStatsResponse(
                stats=[stats.container(engine, pb, workloads.get(c.id)) for c in chosen])

        @_answer
        def PodSandboxStats(self, req, ctx):
            sb = sandboxes.get(req.pod_sandbox_id)
            return pb.PodSandboxStatsResponse(stats=stats.pod(engine, pb, sb, sandboxes.members(sb.id)))

        @_answer
        def ListPodSandboxStats(self, req, ctx):
            flt = req.filter
            chosen = sandboxes.list(pb.PodSandboxFilter(id=flt.id, label_selector=flt.label_selector,
                                                        state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY)))
            return pb.ListPodSandboxStatsResponse(
                stats=[stats.pod(engine, pb, sandboxes.get(p.id), sandboxes.members(p.id)) for p in chosen])

        def GetContainerEvents(self, req, ctx):
            yield from events.stream(engine, pb, sandboxes, workloads, ctx.is_active)

    class Image(rpc.ImageServiceServicer):
        @_answer
        def ListImages(self, req, ctx):
            return pb.ListImagesResponse(images=images.list(req.filter))

        @_answer
        def ImageStatus(self, req, ctx):
            return images.status(req.image.image, req.verbose)

        @_answer
        def PullImage(self, req, ctx):
            return pb.PullImageResponse(image_ref=images.pull(req.image.image, req.auth))

        @_answer
        def RemoveImage(self, req, ctx):
            images.remove(req.image.image)
            return pb.RemoveImageResponse()

        @_answer
        def ImageFsInfo(self, req, ctx):
            return images.fs_info()

    return Runtime(), Image(), streams


def serve(engine, listen: str, cni, stream_address: str = "127.0.0.1:0", ready=None) -> None:
    """Serve until SIGTERM or SIGINT. `listen` is unix:///PATH (the kubelet's
    --container-runtime-endpoint); the socket is made 0660 and removed at the end."""
    import grpc
    from concurrent import futures

    if not listen.startswith("unix://"):
        raise InvalidArgument(f"--listen must be unix:///PATH, not {listen!r}")
    path = listen[len("unix://"):]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.exists(path):
        _refuse_if_live(path)
        os.unlink(path)
    _, rpc = _protos()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    from dockyard.runtime.shim import forkserver
    forkserver.start()  # starts fork there, not in this threaded process (see forkserver.py)
    runtime, image, streams = servicers(engine, cni, stream_address)
    streams.start()
    rpc.add_RuntimeServiceServicer_to_server(runtime, server)
    rpc.add_ImageServiceServicer_to_server(image, server)
    old_umask = os.umask(0o117)
    try:
        server.add_insecure_port(f"unix:{path}")
        server.start()
    finally:
        os.umask(old_umask)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    log.info("CRI listening on %s", listen)
    if ready:
        ready()
    try:
        done.wait()
    finally:
        server.stop(grace=2).wait()
        streams.stop()
        forkserver.stop()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _refuse_if_live(path: str) -> None:
    import socket
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
        except OSError:
            return  # a stale socket of a server that is gone
    raise Conflict(f"{path} is in use by another server: stop it or choose another --listen")
