"""Pod sandboxes: RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus and
ListPodSandbox over dockyard containers running the pause image. A pod's network namespace
is made here and given to the CNI plugins (cri/cni.py); the pause container joins it
(`ns:PATH`), so the namespace and its addresses outlive no pod and belong to no bridge of
dockyard's own."""

from __future__ import annotations

import json
import time

from pathlib import Path

from dockyard.cri import cni as cni_plugins, convert, pause, records
from dockyard.errors import Conflict, InvalidArgument, NotFound

READY, NOTREADY = 0, 1
_PROTOCOLS = {0: "tcp", 1: "udp", 2: "sctp"}


class Sandboxes:
    def __init__(self, engine, pb, handlers: dict[str, str], cni: cni_plugins.CNI) -> None:
        self.engine, self.pb, self.handlers, self.cni = engine, pb, handlers, cni

    def _netns(self, name: str) -> Path:
        return self.engine.run_dir / "cri-netns" / name

    def _cni_cache(self, sandbox_id: str) -> Path:
        return self.containers.dir(sandbox_id) / "cni-result.json"

    @property
    def containers(self):
        return self.engine.containers

    def get(self, ref: str):
        """The sandbox's container; NotFound for anything else, a pod's containers included."""
        return records.find(self.containers, ref, "sandbox", "pod sandbox")

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
        name = records.sandbox_name(meta)
        if not host_network:
            self.cni.network()  # no network config: refused before anything is made
        hc: dict = {
            "NetworkMode": "host" if host_network else f"ns:{self._netns(name)}",
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
        # hostPort mappings go to the CNI chain's portmap plugin, as the kubelet expects
        ports = [{"hostPort": pm.host_port, "containerPort": pm.container_port,
                  "protocol": _PROTOCOLS.get(pm.protocol, "tcp"), "hostIP": pm.host_ip}
                 for pm in cfg.port_mappings if pm.host_port > 0]
        pod = {"log_directory": cfg.log_directory, "pid": ns.pid, "ipc": ns.ipc, "network": ns.network}
        labels = records.labels_for("sandbox", meta, dict(cfg.labels), dict(cfg.annotations),
                                    **{records.HANDLER: handler, records.POD_CONFIG: json.dumps(pod)})
        body = {"Image": pause.ensure(self.engine.images), "Hostname": cfg.hostname if not host_network else "",
                "Labels": labels, "HostConfig": hc}
        try:
            c = self.containers.create(body, name=name)
        except Conflict:
            raise Conflict(f"pod sandbox {name} already exists: remove it first") from None
        try:
            if not host_network:
                self._network_up(c.id, name, meta, ports)
            self.containers.start(c.id)
        except BaseException:
            self._network_down(c)
            self.containers.remove(c.id, force=True)
            raise
        return c.id

    def _network_up(self, sandbox_id: str, name: str, meta: dict, ports: list[dict]) -> None:
        netns = self._netns(name)
        netns.parent.mkdir(parents=True, exist_ok=True)
        self.engine.networks.netlink.create_netns(netns)
        args = {"K8S_POD_NAMESPACE": meta["namespace"], "K8S_POD_NAME": meta["name"],
                "K8S_POD_INFRA_CONTAINER_ID": sandbox_id, "K8S_POD_UID": meta["uid"]}
        self.cni.add(sandbox_id, str(netns), args, {"portMappings": ports} if ports else {},
                     self._cni_cache(sandbox_id))

    def _network_down(self, c) -> None:
        """CNI DEL with what the ADD used, then the namespace goes (both idempotent)."""
        mode = c.host_config.get("NetworkMode", "")
        if not mode.startswith("ns:"):
            return
        self.cni.delete(c.id, self._cni_cache(c.id))
        self.engine.networks.netlink.remove_netns(Path(mode[3:]))

    def netns_of(self, sandbox_id: str) -> str | None:
        """The running pod's network namespace (None: the host's)."""
        sb = self.get(sandbox_id)
        if sb.status != "running":
            raise InvalidArgument(f"pod sandbox {sb.id} is not ready")
        mode = sb.host_config.get("NetworkMode", "")
        return mode[3:] if mode.startswith("ns:") else None

    def ip(self, c) -> tuple[str, list[str]]:
        try:
            result = json.loads(self._cni_cache(c.id).read_text())["result"]
        except (FileNotFoundError, ValueError, KeyError):
            return "", []
        return cni_plugins.pod_ip(result)

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
        self._network_down(sb)

    def remove(self, sandbox_id: str) -> None:
        try:
            sb = self.get(sandbox_id)
        except NotFound:
            return  # removing twice is no error in the CRI
        for c in self.members(sb.id):
            self.containers.remove(c.id, force=True)
        if sb.running:
            self.containers.stop(sb.id, timeout=0)
        self._network_down(sb)
        self.containers.remove(sb.id, force=True)

    # -- status and list -------------------------------------------------------------------
    def state(self, c) -> int:
        return READY if c.status == "running" else NOTREADY

    def status(self, sandbox_id: str, verbose: bool):
        pb = self.pb
        c = self.get(sandbox_id)
        labels = c.config["Labels"]
        pod = json.loads(labels.get(records.POD_CONFIG) or "{}")
        ip, more = self.ip(c) if c.status == "running" else ("", [])
        status = pb.PodSandboxStatus(
            id=c.id, metadata=pb.PodSandboxMetadata(**records.metadata(labels)), state=self.state(c),
            created_at=int(c.created * 1e9), network=pb.PodSandboxNetworkStatus(ip=ip, additional_ips=[pb.PodIP(ip=x) for x in more]),
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
