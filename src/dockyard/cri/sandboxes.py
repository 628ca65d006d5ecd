"""Pod sandboxes: RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus and
ListPodSandbox over dockyard containers running the pause image."""

from __future__ import annotations

import json
import time

from dockyard.cri import convert, pause, records
from dockyard.errors import Conflict, InvalidArgument, NotFound

READY, NOTREADY = 0, 1
_PROTOCOLS = {0: "tcp", 1: "udp", 2: "sctp"}


class Sandboxes:
    def __init__(self, engine, pb, handlers: dict[str, str]) -> None:
        self.engine, self.pb, self.handlers = engine, pb, handlers

    @property
    def containers(self):
        return self.engine.containers

    def get(self, ref: str):
        """The sandbox's container; NotFound for anything else, a pod's containers included."""
        try:
            c = self.containers.get(ref)
        except NotFound:
            raise NotFound(f"pod sandbox {ref!r} not found") from None
        if c.config["Labels"].get(records.KIND) != "sandbox":
            raise NotFound(f"pod sandbox {ref!r} not found")
        return c

    def members(self, sandbox_id: str) -> list:
        return [c for c in self.containers.list(all=True, filters={"label": [f"{records.SANDBOX}={sandbox_id}"]})]

    # -- run -------------------------------------------------------------------------------
    def run(self, req) -> str:
        cfg = req.config
        meta = _metadata(cfg.metadata)
        if not meta["name"] or not meta["uid"] or not meta["namespace"]:
            raise InvalidArgument("pod sandbox metadata needs name, uid and namespace")
        handler = req.runtime_handler
        if handler not in self.handlers:
            raise InvalidArgument(f"no runtime handler {handler!r}: this node offers "
                                  + ", ".join(repr(h) for h in self.handlers))
        linux = cfg.linux
        ctx = linux.security_context
        ns = ctx.namespace_options
        host_network = ns.network == convert.NODE
        hc: dict = {
            "NetworkMode": "host" if host_network else "bridge",
            "IpcMode": "host" if ns.ipc == convert.NODE else "shareable",
            "PidMode": "host" if ns.pid == convert.NODE else "",
            "Runtime": self.handlers[handler],
            "RestartPolicy": {"Name": "no"},
            "Sysctls": dict(linux.sysctls),
            "ReadonlyRootfs": ctx.readonly_rootfs,
            "Privileged": ctx.privileged,
            "SecurityOpt": [],
            "LogConfig": {"Type": "none"},
        }
        convert.seccomp(ctx.seccomp, hc["SecurityOpt"])
        if linux.cgroup_parent:
            hc["CgroupParent"] = linux.cgroup_parent
        dns = cfg.dns_config
        if not host_network:
            hc["Dns"], hc["DnsSearch"], hc["DnsOptions"] = list(dns.servers), list(dns.searches), list(dns.options)
            bindings: dict = {}
            for pm in cfg.port_mappings:
                if pm.host_port <= 0:
                    continue  # a port the pod only declares: nothing to publish
                key = f"{pm.container_port}/{_PROTOCOLS.get(pm.protocol, 'tcp')}"
                bindings.setdefault(key, []).append({"HostIp": pm.host_ip, "HostPort": str(pm.host_port)})
            hc["PortBindings"] = bindings
        pod = {"log_directory": cfg.log_directory, "pid": ns.pid, "ipc": ns.ipc, "network": ns.network}
        labels = records.labels_for("sandbox", meta, dict(cfg.labels), dict(cfg.annotations),
                                    **{records.HANDLER: handler, records.POD_CONFIG: json.dumps(pod)})
        body = {"Image": pause.ensure(self.engine.images), "Hostname": cfg.hostname if not host_network else "",
                "Labels": labels, "HostConfig": hc,
                "ExposedPorts": {k: {} for k in hc.get("PortBindings", {})}}
        name = records.sandbox_name(meta)
        try:
            c = self.containers.create(body, name=name)
        except Conflict:
            raise Conflict(f"pod sandbox {name} already exists: remove it first") from None
        try:
            self.containers.start(c.id)
        except BaseException:
            self.containers.remove(c.id, force=True)
            raise
        return c.id

    # -- stop and remove -------------------------------------------------------------------
    def stop(self, sandbox_id: str) -> None:
        """Every container of the pod, then the sandbox; a sandbox already gone is stopped."""
        try:
            sb = self.get(sandbox_id)
        except NotFound:
            return
        for c in self.members(sb.id):
            if c.running:
                self.containers.stop(c.id, timeout=0)
        if sb.running:
            self.containers.stop(sb.id, timeout=0)

    def remove(self, sandbox_id: str) -> None:
        try:
            sb = self.get(sandbox_id)
        except NotFound:
            return  # removing twice is no error in the CRI
        for c in self.members(sb.id):
            self.containers.remove(c.id, force=True)
        self.containers.remove(sb.id, force=True)

    # -- status and list -------------------------------------------------------------------
    def state(self, c) -> int:
        return READY if c.status == "running" else NOTREADY

    def status(self, sandbox_id: str, verbose: bool):
        pb = self.pb
        c = self.get(sandbox_id)
        labels = c.config["Labels"]
        pod = json.loads(labels.get(records.POD_CONFIG) or "{}")
        ip = ""
        if c.status == "running" and c.host_config["NetworkMode"] != "host":
            for settings in (c.network_settings.get("Networks") or {}).values():
                ip = settings.get("IPAddress") or ip
        status = pb.PodSandboxStatus(
            id=c.id, metadata=pb.PodSandboxMetadata(**records.metadata(labels)), state=self.state(c),
            created_at=int(c.created * 1e9), network=pb.PodSandboxNetworkStatus(ip=ip),
            linux=pb.LinuxPodSandboxStatus(namespaces=pb.Namespace(options=pb.NamespaceOption(
                network=pod.get("network", 0), pid=pod.get("pid", 0), ipc=pod.get("ipc", 0)))),
            labels=records.user_labels(labels), annotations=records.annotations(labels),
            runtime_handler=labels.get(records.HANDLER, ""))
        info = {}
        if verbose:
            info["info"] = json.dumps({"pid": c.state.get("Pid", 0), "image": c.image_ref,
                                       "runtimeHandler": labels.get(records.HANDLER, ""),
                                       "hostConfig": c.host_config})
        return pb.PodSandboxStatusResponse(status=status, info=info, timestamp=time.time_ns())

    def list(self, flt):
        pb = self.pb
        out = []
        for c in self.containers.list(all=True, filters={"label": [f"{records.KIND}=sandbox"]}):
            labels = c.config["Labels"]
            if flt.id and not c.id.startswith(flt.id):
                continue
            if flt.HasField("state") and self.state(c) != flt.state.state:
                continue
            if not records.matches(records.user_labels(labels), dict(flt.label_selector)):
                continue
            out.append(pb.PodSandbox(id=c.id, metadata=pb.PodSandboxMetadata(**records.metadata(labels)),
                                     state=self.state(c), created_at=int(c.created * 1e9),
                                     labels=records.user_labels(labels), annotations=records.annotations(labels),
                                     runtime_handler=labels.get(records.HANDLER, "")))
        return out


def _metadata(m) -> dict:
    return {"name": m.name, "uid": m.uid, "namespace": m.namespace, "attempt": m.attempt}
