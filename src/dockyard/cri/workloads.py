"""A pod's containers: CreateContainer, Start/Stop/RemoveContainer, ListContainers,
ContainerStatus, ReopenContainerLog and ExecSync over dockyard containers that join their
sandbox's network, IPC (and, when the pod asks, PID) namespaces."""

from __future__ import annotations

import json
import os
import threading

from dockyard.cri import convert, records
from dockyard.errors import DockyardError, InvalidArgument, NotFound


class Workloads:
    def __init__(self, engine, pb, sandboxes) -> None:
        self.engine, self.pb, self.sandboxes = engine, pb, sandboxes

    @property
    def containers(self):
        return self.engine.containers

    def get(self, ref: str):
        return records.find(self.containers, ref, "container", "container")

    # -- create ----------------------------------------------------------------------------
    def create(self, req) -> str:
        sb = self.sandboxes.get(req.pod_sandbox_id)
        if sb.status != "running":
            raise InvalidArgument(f"pod sandbox {sb.id} is not ready: start a new one")
        cfg = req.config
        meta = {"name": cfg.metadata.name, "attempt": cfg.metadata.attempt}
        if not meta["name"]:
            raise InvalidArgument("container metadata needs a name")
        if not cfg.image.image:
            raise InvalidArgument("container config needs an image")
        pod = json.loads(sb.config["Labels"].get(records.POD_CONFIG) or "{}")
        linux = cfg.linux
        ctx = linux.security_context
        ns = ctx.namespace_options
        hc: dict = {
            "NetworkMode": f"container:{sb.id}",
            "IpcMode": f"container:{sb.id}" if ns.ipc != convert.NODE else "host",
            "Runtime": sb.host_config.get("Runtime") or "",
            "RestartPolicy": {"Name": "no"},
            "Privileged": ctx.privileged, "ReadonlyRootfs": ctx.readonly_rootfs,
            "CapAdd": list(ctx.capabilities.add_capabilities), "CapDrop": list(ctx.capabilities.drop_capabilities),
            "GroupAdd": [str(g) for g in ctx.supplemental_groups],
            "SecurityOpt": ["no-new-privileges"] if ctx.no_new_privs else [],
            "Binds": [convert.bind(m) for m in cfg.mounts],
            "Devices": [{"PathOnHost": d.host_path, "PathInContainer": d.container_path,
                         "CgroupPermissions": d.permissions or "rwm"} for d in cfg.devices],
        }
        if ns.pid == convert.NODE:
            hc["PidMode"] = "host"
        elif ns.pid == convert.POD:
            hc["PidMode"] = f"container:{sb.id}"
        elif ns.pid == convert.TARGET:
            hc["PidMode"] = f"container:{self.get(ns.target_id).id}"
        if ctx.masked_paths:
            hc["MaskedPaths"] = list(ctx.masked_paths)
        if ctx.readonly_paths:
            hc["ReadonlyPaths"] = list(ctx.readonly_paths)
        convert.seccomp(ctx.seccomp, hc["SecurityOpt"])
        convert.resources(linux.resources, hc)
        if sb.host_config.get("CgroupParent"):
            hc["CgroupParent"] = sb.host_config["CgroupParent"]
        log_path = ""
        if pod.get("log_directory") and cfg.log_path:
            log_path = os.path.join(pod["log_directory"], cfg.log_path)
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            hc["LogConfig"] = {"Type": "k8s-file", "Config": {"path": log_path}}
        pod_meta = records.metadata(sb.config["Labels"])
        labels = records.labels_for("container", meta, dict(cfg.labels), dict(cfg.annotations),
                                    **{records.SANDBOX: sb.id})
        body = {"Image": cfg.image.image, "Labels": labels, "HostConfig": hc,
                "Env": [f"{kv.key}={kv.value.decode('utf-8', 'surrogateescape')}" for kv in cfg.envs],
                "WorkingDir": cfg.working_dir, "User": convert.user(ctx),
                "Tty": cfg.tty, "OpenStdin": cfg.stdin, "StdinOnce": cfg.stdin_once,
                "Hostname": sb.config.get("Hostname") or ""}
        if cfg.command:
            body["Entrypoint"] = list(cfg.command)
        if cfg.args:
            body["Cmd"] = list(cfg.args)
        c = self.containers.create(body, name=records.container_name(meta, pod_meta))
        return c.id

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, ref: str) -> None:
        c = self.get(ref)
        if c.status != "created":
            raise InvalidArgument(f"container {c.id} is {c.status}: only a created container can be started")
        self.containers.start(c.id)

    def stop(self, ref: str, timeout: int) -> None:
        c = self.get(ref)
        if c.running:
            self.containers.stop(c.id, timeout=max(0, timeout))

    def remove(self, ref: str) -> None:
        try:
            c = self.get(ref)
        except NotFound:
            return  # removing twice is no error in the CRI
        self.containers.remove(c.id, force=True)

    def update(self, ref: str, res) -> None:
        """UpdateContainerResources: the new limits in force at once (`docker update`)."""
        c = self.get(ref)
        hc: dict = {}
        convert.resources(res, hc)
        hc.pop("OomScoreAdj", None)  # fixed at start, as in containerd
        self.containers.update(c.id, hc)

    def reopen_log(self, ref: str) -> None:
        c = self.get(ref)
        if not c.running:
            raise InvalidArgument(f"container {c.id} is not running")
        from dockyard.runtime.shim import protocol
        protocol.control(str(self.containers.shim_dir(c.id)), "reopen-log")

    # -- status and list -------------------------------------------------------------------
    def _image_spec(self, c):
        return self.pb.ImageSpec(image=c.image_ref)

    def status(self, ref: str, verbose: bool):
        pb = self.pb
        c = self.get(ref)
        labels, st = c.config["Labels"], c.state
        state = convert.container_state(c.status)
        reason = ""
        if state == convert.EXITED:
            reason = "OOMKilled" if st.get("OOMKilled") else ("Completed" if st.get("ExitCode") == 0 else "Error")
        mounts = [pb.Mount(container_path=m.get("Destination", ""), host_path=m.get("Source", ""),
                           readonly=not m.get("RW", True)) for m in c.mounts if m.get("Type") == "bind"]
        status = pb.ContainerStatus(
            id=c.id, metadata=pb.ContainerMetadata(**records.metadata(labels)), state=state,
            created_at=int(c.created * 1e9), started_at=convert.nanos(st.get("StartedAt", "")),
            finished_at=convert.nanos(st.get("FinishedAt", "")), exit_code=int(st.get("ExitCode") or 0),
            image=self._image_spec(c), image_ref=c.image_id, image_id=c.image_id, reason=reason,
            message=st.get("Error") or "", labels=records.user_labels(labels),
            annotations=records.annotations(labels), mounts=mounts,
            log_path=c.host_config["LogConfig"]["Config"].get("path", ""))
        info = {}
        if verbose:
            info["info"] = json.dumps({"pid": st.get("Pid", 0), "sandboxID": labels.get(records.SANDBOX, ""),
                                       "config": c.config, "hostConfig": c.host_config})
        return pb.ContainerStatusResponse(status=status, info=info)

    def list(self, flt):
        pb = self.pb
        out = []
        for c in self.containers.list(all=True, filters={"label": [f"{records.KIND}=container"]}):
            labels = c.config["Labels"]
            state = convert.container_state(c.status)
            if flt.id and not c.id.startswith(flt.id):
                continue
            if flt.HasField("state") and state != flt.state.state:
                continue
            if flt.pod_sandbox_id and not labels.get(records.SANDBOX, "").startswith(flt.pod_sandbox_id):
                continue
            if not records.matches(records.user_labels(labels), dict(flt.label_selector)):
                continue
            out.append(pb.Container(id=c.id, pod_sandbox_id=labels.get(records.SANDBOX, ""),
                                    metadata=pb.ContainerMetadata(**records.metadata(labels)),
                                    image=self._image_spec(c), image_ref=c.image_id, image_id=c.image_id,
                                    state=state, created_at=int(c.created * 1e9),
                                    labels=records.user_labels(labels), annotations=records.annotations(labels)))
        return out

    # -- exec ------------------------------------------------------------------------------
    def exec_sync(self, ref: str, cmd: list[str], timeout: int):
        """Run `cmd` in the container and collect its output; past `timeout` seconds (0: none)
        it is killed and DeadlineExceeded raised, as the CRI asks."""
        c = self.get(ref)
        if not cmd:
            raise InvalidArgument("ExecSync needs a command")
        eid = self.containers.exec_create(c.id, {"Cmd": list(cmd), "AttachStdout": True, "AttachStderr": True})
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}

        def drain(fd: int) -> None:
            with os.fdopen(fd, "rb", buffering=0) as f:
                while data := f.read(65536):
                    chunks[fd].append(data)

        readers = [threading.Thread(target=drain, args=(fd,), daemon=True) for fd in (out_r, err_r)]
        for t in readers:
            t.start()
        result: dict = {}

        def run() -> None:
            try:
                with os.fdopen(out_w, "wb", buffering=0) as out, os.fdopen(err_w, "wb", buffering=0) as err:
                    result["code"] = self.containers.exec_start(eid, stdout=out, stderr=err)
            except DockyardError as e:
                result["error"] = e

        before = set(self.containers.pids(c))
        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        runner.join(timeout or None)
        if runner.is_alive():
            self._kill_new(c, before)
            runner.join(5)
            raise TimeoutError(f"command {' '.join(cmd)!r} timed out after {timeout}s")
        for t in readers:
            t.join(5)
        if "error" in result:
            raise result["error"]
        return self.pb.ExecSyncResponse(stdout=b"".join(chunks[out_r]), stderr=b"".join(chunks[err_r]),
                                        exit_code=result.get("code", -1))

    def _kill_new(self, c, before: set[int]) -> None:
        """Kill what the timed-out exec started: the container's processes that were not
        there before it (its cgroup holds them all)."""
        for pid in set(self.containers.pids(c)) - before:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
