"""`dockyard cri serve` driven as the kubelet drives a runtime: the CRI v1 gRPC services on a
unix socket, through stubs generated from the same published definition (no crictl or
kubelet is packaged for this machine). Real pods: a pause process, containers joining its
namespaces, the CRI's log format, exec, and nothing left behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import grpc
import pytest

from dockyard.cri.protos import cri_runtime_v1_pb2 as pb, cri_runtime_v1_pb2_grpc as rpc
from tests.conftest import DOCKYARD, Dockyard
from tests.helpers.servers import first_line
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.root


class CRI:
    def __init__(self, sock: str) -> None:
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        self.rt, self.im = rpc.RuntimeServiceStub(self.channel), rpc.ImageServiceStub(self.channel)

    def pod(self, name: str, logs: Path, handler: str = "", **kw) -> tuple[str, pb.PodSandboxConfig]:
        cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="default"),
                                  log_directory=str(logs / name), **kw)
        return self.rt.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg, runtime_handler=handler),
                                     timeout=60).pod_sandbox_id, cfg

    def container(self, pod: str, cfg: pb.PodSandboxConfig, name: str, start: bool = True, attempt: int = 0,
                  **kw) -> str:
        kw.setdefault("image", pb.ImageSpec(image="busybox"))
        cc = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=attempt), log_path=f"{name}/0.log",
                                **kw)
        cid = self.rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod, config=cc, sandbox_config=cfg),
                                      timeout=60).container_id
        if start:
            self.rt.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=60)
        return cid

    def exec(self, cid: str, *cmd: str, timeout: int = 20) -> pb.ExecSyncResponse:
        return self.rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=timeout), timeout=60)

    def status(self, cid: str) -> pb.ContainerStatus:
        return self.rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status


def free_subnet() -> str:
    """A /24 no route on this host covers (other roots and tests have theirs)."""
    import ipaddress
    import random
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    taken = [ipaddress.ip_network(w, strict=False) for w in routes.split() if re.fullmatch(r"[\d.]+/\d+", w)]
    while True:
        net = ipaddress.ip_network(f"10.{random.randint(160, 199)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(t) for t in taken):
            return str(net)


@pytest.fixture
def cni_dir(tmp_path):
    """A CNI config of the test's own: Debian's bridge, host-local, portmap and firewall plugins on a bridge
    and subnet no one else uses, IPAM state under the test's directory."""
    if not os.path.exists("/usr/lib/cni/bridge"):
        pytest.skip("CNI plugins (Debian package containernetworking-plugins) are not installed")
    conf = tmp_path / "cni"
    conf.mkdir()
    bridge, subnet = "dycni" + os.urandom(3).hex(), free_subnet()
    (conf / "10-pods.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "pods-" + bridge,
        "plugins": [{"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(tmp_path / "ipam")}},
                    {"type": "portmap", "capabilities": {"portMappings": True}},
                    # accepts the pods' traffic in FORWARD, where a host with Docker drops it by default
                    {"type": "firewall"}]}))
    yield conf, bridge, subnet
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)  # the config's bridge, made by the plugin


def start_server(dy: Dockyard, sock: str, conf_dir) -> subprocess.Popen:
    proc = subprocess.Popen([DOCKYARD, "cri", "serve", "--listen", f"unix://{sock}", "--cni-conf-dir", str(conf_dir)],
                            env=dy.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = first_line(proc, proc.stderr)
    if "CRI serving on" not in line:
        proc.kill()
        proc.wait()
        raise AssertionError(f"dockyard cri serve did not start: {line!r}")
    return proc


@pytest.fixture
def cri(dy: Dockyard, busybox, cni_dir):
    sock = f"{dy.run_dir}/cri.sock"
    proc = start_server(dy, sock, cni_dir[0])
    client = CRI(sock)
    client.server, client.sock, client.cni = proc, sock, cni_dir
    try:
        yield client
        client.channel.close()
    finally:
        client.server.terminate()
        assert client.server.wait(20) == 0
    assert not os.path.exists(sock)


def code_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details()


def test_version_status_and_images(cri: CRI, dy: Dockyard, busybox):
    v = cri.rt.Version(pb.VersionRequest(version="v1"))
    assert (v.runtime_name, v.runtime_api_version) == ("dockyard", "v1")
    st = cri.rt.Status(pb.StatusRequest())
    assert {(c.type, c.status) for c in st.status.conditions} == {("RuntimeReady", True), ("NetworkReady", True)}
    assert {"runc", "crun", "dockyard"} <= {h.name for h in st.runtime_handlers}
    config = json.loads(cri.rt.Status(pb.StatusRequest(verbose=True)).info["config"])
    assert config["root"] == str(dy.root) and config["cniConfDir"] == str(cri.cni[0])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", config["streamServer"])

    images = cri.im.ListImages(pb.ListImagesRequest()).images
    assert [(i.id, list(i.repo_tags)) for i in images] == [(busybox, ["docker.io/library/busybox:latest"])]
    assert images[0].size > 0
    found = cri.im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="busybox")))
    assert found.image.id == busybox
    assert not cri.im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="nope:1"))).HasField("image")
    fs = cri.im.ImageFsInfo(pb.ImageFsInfoRequest()).image_filesystems[0]
    assert fs.used_bytes.value > 0 and fs.inodes_used.value > 0 and fs.fs_id.mountpoint.startswith(str(dy.root))
    cri.im.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image="nope:1")))  # absent: no error
    # a method this runtime does not serve answers UNIMPLEMENTED, as grpc servers do
    call = cri.channel.unary_unary("/runtime.v1.RuntimeService/CheckpointContainer",
                                   request_serializer=lambda m: b"", response_deserializer=lambda b: b)
    assert code_of(lambda: call(b""))[0] == grpc.StatusCode.UNIMPLEMENTED


def test_a_pod_shares_network_and_ipc_logs_in_the_cri_format_and_leaves_nothing(cri: CRI, dy: Dockyard, tmp_path):
    import ipaddress
    import socket

    _, bridge, subnet = cri.cni
    with socket.socket() as s:
        s.bind(("", 0))
        host_port = s.getsockname()[1]
    own_pids = pb.LinuxSandboxSecurityContext(namespace_options=pb.NamespaceOption(pid=pb.CONTAINER))
    pod, cfg = cri.pod("web", tmp_path / "logs", hostname="webpod", labels={"app": "web", "tier": "front"},
                       annotations={"note": "a"}, linux=pb.LinuxPodSandboxConfig(security_context=own_pids),
                       port_mappings=[pb.PortMapping(container_port=8080, host_port=host_port)])
    st = cri.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).status
    assert st.state == pb.SANDBOX_READY and ipaddress.ip_address(st.network.ip) in ipaddress.ip_network(subnet)
    assert (st.metadata.name, st.metadata.namespace, dict(st.labels), dict(st.annotations)) == \
        ("web", "default", {"app": "web", "tier": "front"}, {"note": "a"})
    assert not cri.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).containers_statuses

    srv = cri.container(pod, cfg, "srv", command=["sh", "-c"], labels={"role": "srv"},
                        args=["echo started; printf 'no newline'; echo to-stderr >&2; exec httpd -f -p 8080 -h /etc"],
                        envs=[pb.KeyValue(key="GREETING", value=b"hello pod")])
    own = pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
        namespace_options=pb.NamespaceOption(pid=pb.CONTAINER)))
    side = cri.container(pod, cfg, "side", command=["sleep", "300"], linux=own)
    # the side container reaches the server on the pod's localhost; both see one IPC namespace
    got = wait_for(lambda: (r := cri.exec(side, "wget", "-qO-", "http://127.0.0.1:8080/hostname")).exit_code == 0 and r,
                   what="the server answering on the pod's localhost")
    assert got.stdout == b"webpod\n"
    # hostPort through the CNI chain's portmap, reached at an address of the host (the bridge's gateway)
    gateway = str(next(ipaddress.ip_network(subnet).hosts()))
    import httpx
    assert httpx.get(f"http://{gateway}:{host_port}/hostname", timeout=10).text == "webpod\n"
    # another pod on the same bridge reaches this one at its address
    other, other_cfg = cri.pod("peer", tmp_path / "logs")
    peer = cri.container(other, other_cfg, "peer", command=["sleep", "300"])
    assert cri.exec(peer, "wget", "-qO-", f"http://{st.network.ip}:8080/hostname").stdout == b"webpod\n"
    r = cri.exec(srv, "sh", "-c", "echo $GREETING; hostname; readlink /proc/self/ns/ipc; echo oops >&2; exit 3")
    ipc = cri.exec(side, "readlink", "/proc/self/ns/ipc").stdout.decode().strip()
    assert (r.stdout.decode().split("\n")[:3], r.stderr, r.exit_code) == (["hello pod", "webpod", ipc], b"oops\n", 3)
    # a container asking for its own PID namespace (what the kubelet asks by default) sees only itself
    assert cri.exec(side, "ps", "-o", "comm").stdout.decode().split() == ["COMMAND", "sleep", "ps"]

    log = tmp_path / "logs" / "web" / "srv" / "0.log"
    wait_for(lambda: log.exists() and "to-stderr" in log.read_text(), what="the CRI log")
    lines = log.read_text().splitlines()
    assert cri.status(srv).log_path == str(log)
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")
    parsed = sorted(pattern.match(line).groups() for line in lines)
    assert ("stdout", "F", "started") in parsed and ("stderr", "F", "to-stderr") in parsed
    # `dockyard logs` reads the same file
    assert "started" in dy("logs", srv).out

    listed = cri.rt.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=pod))).containers
    assert {(c.metadata.name, c.pod_sandbox_id, c.state) for c in listed} == \
        {("srv", pod, pb.CONTAINER_RUNNING), ("side", pod, pb.CONTAINER_RUNNING)}
    by_label = cri.rt.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector={"role": "srv"})))
    assert [c.id for c in by_label.containers] == [srv]
    members = cri.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).containers_statuses
    assert sorted((m.metadata.name, m.state) for m in members) == [("side", pb.CONTAINER_RUNNING),
                                                                  ("srv", pb.CONTAINER_RUNNING)]
    pods = cri.rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={"app": "web"})))
    assert [p.id for p in pods.items] == [pod]
    assert len(cri.rt.ListPodSandbox(pb.ListPodSandboxRequest()).items) == 2
    assert not cri.rt.ListPodSandbox(pb.ListPodSandboxRequest(
        filter=pb.PodSandboxFilter(label_selector={"app": "db"}))).items

    # a restart of the server loses nothing: what it answers after equals what it answered before
    def everything():
        pods = cri.rt.ListPodSandbox(pb.ListPodSandboxRequest()).items
        return (sorted(p.SerializeToString(deterministic=True) for p in pods),
                sorted(c.SerializeToString(deterministic=True)
                       for c in cri.rt.ListContainers(pb.ListContainersRequest()).containers),
                [cri.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=p)).status.SerializeToString(
                    deterministic=True) for p in (pod, other)])
    before = everything()
    cri.server.terminate()
    assert cri.server.wait(20) == 0
    cri.server = start_server(dy, cri.sock, cri.cni[0])
    assert everything() == before
    assert cri.exec(peer, "wget", "-qO-", f"http://{st.network.ip}:8080/hostname").stdout == b"webpod\n"
    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=other), timeout=60)

    cri.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    assert cri.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).status.state == pb.SANDBOX_NOTREADY
    assert {cri.status(c).state for c in (srv, side)} == {pb.CONTAINER_EXITED}
    ready = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY))
    assert not cri.rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=ready)).items
    cri.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod))  # again: no error
    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod))  # again: no error
    assert not cri.rt.ListPodSandbox(pb.ListPodSandboxRequest()).items
    assert dy("ps", "-aq").out == ""
    # the pods' kernel objects are gone with them: namespaces, veths, addresses, port rules
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(dy.run_dir) + "/" not in mounts
    assert subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True).stdout == ""
    leases = [p.name for p in (tmp_path / "ipam").rglob("*") if p.is_file()]
    assert not [n for n in leases if re.fullmatch(r"[\d.]+", n)], leases
    assert str(host_port) not in subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout


def test_exits_security_context_and_pid_sharing(cri: CRI, tmp_path):
    pod, cfg = cri.pod("jobs", tmp_path / "logs",
                       linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
                           namespace_options=pb.NamespaceOption(pid=pb.POD))))
    job = cri.container(pod, cfg, "job", command=["sh", "-c", "exit 3"])
    st = wait_for(lambda: (s := cri.status(job)).state == pb.CONTAINER_EXITED and s, what="the job's exit")
    assert (st.exit_code, st.reason) == (3, "Error") and st.finished_at >= st.started_at > 0
    assert code_of(lambda: cri.exec(job, "true"))[0] == grpc.StatusCode.FAILED_PRECONDITION

    ctx = pb.LinuxContainerSecurityContext(run_as_user=pb.Int64Value(value=1234), run_as_group=pb.Int64Value(value=99),
                                           readonly_rootfs=True, no_new_privs=True,
                                           capabilities=pb.Capability(drop_capabilities=["NET_RAW"]),
                                           namespace_options=pb.NamespaceOption(pid=pb.POD))
    locked = cri.container(pod, cfg, "locked", command=["sleep", "300"],
                           linux=pb.LinuxContainerConfig(security_context=ctx))
    r = cri.exec(locked, "sh", "-c", "id -u; id -g; touch /x 2>&1; grep NoNewPrivs /proc/self/status; ps -o comm")
    out = r.stdout.decode()
    assert out.startswith("1234\n99\n") and "Read-only file system" in out and "NoNewPrivs:\t1" in out
    assert "catatonit" in out  # one PID namespace for the pod when it asks for POD
    # seccomp RuntimeDefault blocks what the default profile blocks (a user namespace without
    # CAP_SYS_ADMIN), and Unconfined does not
    for profile, code in ((pb.SecurityProfile.RuntimeDefault, 1), (pb.SecurityProfile.Unconfined, 0)):
        sc = pb.LinuxContainerSecurityContext(seccomp=pb.SecurityProfile(profile_type=profile))
        probe = cri.container(pod, cfg, f"seccomp{profile}", command=["sleep", "300"],
                              linux=pb.LinuxContainerConfig(security_context=sc))
        assert cri.exec(probe, "unshare", "-U", "true").exit_code == code
    # a timed-out exec is killed, and the caller hears DEADLINE_EXCEEDED
    code, detail = code_of(lambda: cri.exec(locked, "sleep", "40", timeout=1))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "timed out" in detail
    assert "sleep 40" not in cri.exec(locked, "ps", "-o", "args").stdout.decode()
    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)


def test_a_pod_on_runc_and_reopened_logs(cri: CRI, tmp_path):
    pod, cfg = cri.pod("alt", tmp_path / "logs", handler="runc")
    c = cri.container(pod, cfg, "ticker", command=["sh", "-c", "while :; do echo tick; sleep 0.1; done"])
    log = tmp_path / "logs" / "alt" / "ticker" / "0.log"
    wait_for(lambda: log.exists() and "tick" in log.read_text(), what="the first ticks")
    log.rename(log.with_name("0.log.1"))  # what the kubelet's log rotation does
    cri.rt.ReopenContainerLog(pb.ReopenContainerLogRequest(container_id=c))
    wait_for(lambda: log.exists() and "tick" in log.read_text(), what="ticks in the reopened log")
    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)


def test_mistakes_get_the_cri_codes(cri: CRI, tmp_path):
    assert code_of(lambda: cri.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id="nope")))[0] == \
        grpc.StatusCode.NOT_FOUND
    code, detail = code_of(lambda: cri.pod("odd", tmp_path, handler="kata"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no runtime handler 'kata'" in detail
    assert code_of(lambda: cri.rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pb.PodSandboxConfig())))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    pod, cfg = cri.pod("errs", tmp_path / "logs")
    code, detail = code_of(lambda: cri.container(pod, cfg, "x", image=pb.ImageSpec(image="nope:1")))
    assert code == grpc.StatusCode.NOT_FOUND and "nope:1" in detail
    code, _ = code_of(lambda: cri.container(pod, cfg, "y", mounts=[pb.Mount(host_path="rel", container_path="/d")]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = code_of(lambda: cri.pod("errs", tmp_path / "logs"))  # the same pod and attempt twice
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    # a sandbox is not a container, and a container not a sandbox
    c = cri.container(pod, cfg, "z", command=["sleep", "60"])
    assert code_of(lambda: cri.status(pod))[0] == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: cri.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=c)))[0] == \
        grpc.StatusCode.NOT_FOUND
    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    assert not cri.rt.ListContainers(pb.ListContainersRequest()).containers


def test_pull_with_the_kubelets_credentials(cri: CRI, dy: Dockyard, busybox, tmp_path):
    import shutil

    from tests.integration.distribution.distribution_support import start_registry
    if shutil.which("htpasswd") is None:
        pytest.skip("htpasswd (Debian package apache2-utils) is not installed")
    users = tmp_path / "htpasswd"
    users.write_text(subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True,
                                    check=True).stdout)
    registry = start_registry(tmp_path, htpasswd=users)
    host = next(registry).host
    try:
        ref = f"{host}/team/box:1"
        dy("tag", "busybox", ref)
        dy("login", host, "-u", "alice", "--password-stdin", input="s3cret\n")
        dy("push", ref)
        dy("logout", host)
        dy("rmi", ref)
        spec = pb.ImageSpec(image=ref)
        code, detail = code_of(lambda: cri.im.PullImage(pb.PullImageRequest(image=spec), timeout=60))
        assert code == grpc.StatusCode.UNAUTHENTICATED and "s3cret" not in detail
        auth = pb.AuthConfig(username="alice", password="s3cret", server_address=host)
        assert cri.im.PullImage(pb.PullImageRequest(image=spec, auth=auth), timeout=60).image_ref == busybox
        assert ref in cri.im.ImageStatus(pb.ImageStatusRequest(image=spec)).image.repo_tags
        cri.im.RemoveImage(pb.RemoveImageRequest(image=spec))
        assert not cri.im.ImageStatus(pb.ImageStatusRequest(image=spec)).HasField("image")
        assert cri.im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="busybox"))).image.id == busybox
    finally:
        registry.close()


def test_stats_resource_updates_and_events(cri: CRI, dy: Dockyard, tmp_path):
    import threading

    seen: list = []
    events = cri.rt.GetContainerEvents(pb.GetEventsRequest())

    def follow() -> None:
        try:
            for e in events:
                seen.append(e)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.CANCELLED  # the test's own cancel at the end

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()

    pod, cfg = cri.pod("busy", tmp_path / "logs", labels={"app": "busy"})
    # the stream is live once it reports something: containers made and removed until it does
    for attempt in range(20):
        probe = cri.container(pod, cfg, "probe", start=False, attempt=attempt)
        cri.rt.RemoveContainer(pb.RemoveContainerRequest(container_id=probe))
        try:
            wait_for(lambda: seen, timeout=0.5)
            break
        except AssertionError:
            continue
    assert seen, "the event stream reported nothing"
    c = cri.container(pod, cfg, "spin", command=["sh", "-c", "head -c 20000000 /dev/zero | md5sum; sleep 300"])
    wait_for(lambda: cri.rt.ContainerStats(pb.ContainerStatsRequest(container_id=c)).stats.cpu
             .usage_core_nano_seconds.value > 0, what="CPU time counted")
    s = cri.rt.ContainerStats(pb.ContainerStatsRequest(container_id=c)).stats
    assert s.attributes.id == c and s.attributes.metadata.name == "spin" and s.memory.usage_bytes.value > 0
    listed = cri.rt.ListContainerStats(pb.ListContainerStatsRequest(filter=pb.ContainerStatsFilter(pod_sandbox_id=pod)))
    assert [x.attributes.id for x in listed.stats] == [c]
    ps = cri.rt.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=pod)).stats
    assert ps.attributes.id == pod and ps.linux.process.process_count.value >= 2  # catatonit and at least sh
    assert ps.linux.cpu.usage_core_nano_seconds.value >= s.cpu.usage_core_nano_seconds.value
    assert [i.name for i in ps.linux.network.interfaces] == ["eth0"]
    assert [p.attributes.id for p in cri.rt.ListPodSandboxStats(pb.ListPodSandboxStatsRequest()).stats] == [pod]

    cri.rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=c, linux=pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_shares=512)))
    hc = cri.rt.ContainerStatus(pb.ContainerStatusRequest(container_id=c, verbose=True)).info["info"]
    assert '"Memory": 67108864' in hc and '"CpuShares": 512' in hc
    assert dy("inspect", "-f", "{{.HostConfig.Memory}}", c).out.strip() == str(64 << 20)

    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    seen[:] = [e for e in seen if e.container_id == c]
    wanted = [(c, pb.CONTAINER_CREATED_EVENT), (c, pb.CONTAINER_STARTED_EVENT), (c, pb.CONTAINER_STOPPED_EVENT),
              (c, pb.CONTAINER_DELETED_EVENT)]
    wait_for(lambda: [(e.container_id, e.container_event_type) for e in seen] == wanted, what="the four events")
    assert seen[1].pod_sandbox_status.id == pod and seen[1].containers_statuses[0].state == pb.CONTAINER_RUNNING
    events.cancel()
    reader.join(10)


def test_without_a_network_config_only_host_network_pods_run(dy: Dockyard, busybox, tmp_path):
    empty = tmp_path / "no-cni"
    empty.mkdir()
    sock = f"{dy.run_dir}/cri.sock"
    proc = start_server(dy, sock, empty)
    client = CRI(sock)
    try:
        net = {c.type: c for c in client.rt.Status(pb.StatusRequest()).status.conditions}["NetworkReady"]
        assert (net.status, net.reason) == (False, "NetworkPluginNotReady") and str(empty) in net.message
        code, detail = code_of(lambda: client.pod("isolated", tmp_path))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "cni plugin not initialized" in detail
        assert dy("ps", "-aq").out == ""
        host_ns = pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=pb.NamespaceOption(network=pb.NODE)))
        pod, cfg = client.pod("hostnet", tmp_path / "logs", linux=host_ns)
        c = client.container(pod, cfg, "probe", command=["sleep", "60"])
        # the host's own network namespace (counting interfaces raced other roots' veths)
        assert client.exec(c, "readlink", "/proc/self/ns/net").stdout.decode().strip() == \
            os.readlink("/proc/self/ns/net")
        client.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    finally:
        client.channel.close()
        proc.terminate()
        assert proc.wait(20) == 0


class Stream:
    """A Kubernetes channel-protocol WebSocket client, as kubectl speaks to the kubelet."""

    def __init__(self, url: str, protocol: str = "v5.channel.k8s.io") -> None:
        import asyncio

        import aiohttp
        self.loop = asyncio.new_event_loop()
        self.session = self.loop.run_until_complete(self._session(aiohttp))
        self.ws = self.loop.run_until_complete(self.session.ws_connect(url, protocols=[protocol]))
        self.protocol = protocol

    @staticmethod
    async def _session(aiohttp):
        return aiohttp.ClientSession()

    def send(self, channel: int, data: bytes) -> None:
        self.loop.run_until_complete(self.ws.send_bytes(bytes([channel]) + data))

    def collect(self, timeout: float = 30) -> dict[int, bytes]:
        """Every channel's bytes until the server closes."""
        import asyncio

        import aiohttp

        async def read() -> dict[int, bytes]:
            got: dict[int, bytes] = {}
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    import base64
                    ch = ord(msg.data[0]) - ord("0")
                    got[ch] = got.get(ch, b"") + base64.b64decode(msg.data[1:])
            return got
        try:
            return self.loop.run_until_complete(asyncio.wait_for(read(), timeout))
        finally:
            self.loop.run_until_complete(self.session.close())
            self.loop.close()


def test_streaming_exec_attach_and_port_forward(cri: CRI, tmp_path):
    import struct

    pod, cfg = cri.pod("stream", tmp_path / "logs")
    c = cri.container(pod, cfg, "srv", command=["sh", "-c", "echo ready; exec httpd -f -p 8080 -h /etc"])
    # exec without a tty: stdin in, stdout and stderr apart, the exit code in the v5 status
    url = cri.rt.Exec(pb.ExecRequest(container_id=c, cmd=["sh", "-c", "read x; echo got $x; echo e >&2; exit 7"],
                                     stdin=True, stdout=True, stderr=True)).url
    s = Stream(url)
    s.send(0, b"hello\n")
    s.send(255, b"\x00")  # v5: stdin closed
    got = s.collect()
    assert (got[1], got[2]) == (b"got hello\n", b"e\n")
    status = json.loads(got[3])
    assert status["status"] == "Failure" and status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    # with a tty: one stream, and a resize reaches the terminal
    url = cri.rt.Exec(pb.ExecRequest(container_id=c, cmd=["sh", "-c", "sleep 0.5; stty size"], tty=True, stdin=True,
                                     stdout=True)).url
    s = Stream(url, "v4.channel.k8s.io")
    s.send(4, json.dumps({"Width": 91, "Height": 33}).encode())
    got = s.collect()
    assert b"33 91" in got[1] and json.loads(got[3])["status"] == "Success"
    # the older base64 protocol
    url = cri.rt.Exec(pb.ExecRequest(container_id=c, cmd=["echo", "b64"], stdout=True)).url
    assert Stream(url, "base64.channel.k8s.io").collect()[1] == b"b64\n"
    # a token is good once
    code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True,
                          text=True).stdout
    assert code == "404"
    # SPDY is refused in words
    url = cri.rt.Exec(pb.ExecRequest(container_id=c, cmd=["true"], stdout=True)).url
    r = subprocess.run(["curl", "-s", "-H", "Connection: Upgrade", "-H", "Upgrade: SPDY/3.1", url],
                       capture_output=True, text=True).stdout
    assert "only WebSocket streaming is served" in r

    # attach: the container's output as it comes
    talker = cri.container(pod, cfg, "talker", command=["sh", "-c", "sleep 1; echo one; echo two >&2; sleep 1"])
    s = Stream(cri.rt.Attach(pb.AttachRequest(container_id=talker, stdout=True, stderr=True)).url)
    got = s.collect()
    assert (got[1], got[2]) == (b"one\n", b"two\n")

    # port-forward to the pod's port 8080, which only the pod's localhost reaches
    url = cri.rt.PortForward(pb.PortForwardRequest(pod_sandbox_id=pod, port=[8080])).url
    s = Stream(url + "?ports=8080", "v4.channel.k8s.io")
    s.send(0, b"GET /hostname HTTP/1.0\r\n\r\n")
    got = s.collect()
    assert got[1] == struct.pack("<H", 8080)  # the error channel: just its port
    assert got[0].startswith(struct.pack("<H", 8080) + b"HTTP/1.") and got[0].endswith(b"\n")
    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)


def test_the_kubelets_cgroup_parent_holds_the_pod(cri: CRI, dy: Dockyard, tmp_path):
    parent = f"/{dy.tag}-kubepods/pod-uid-cg"
    pod, cfg = cri.pod("cg", tmp_path / "logs", linux=pb.LinuxPodSandboxConfig(cgroup_parent=parent))
    c = cri.container(pod, cfg, "app", command=["sleep", "300"])
    info = json.loads(cri.rt.ContainerStatus(pb.ContainerStatusRequest(container_id=c, verbose=True)).info["info"])
    lines = Path(f"/proc/{info['pid']}/cgroup").read_text().splitlines()
    memory = next(line.split(":", 2)[2] for line in lines if ":memory:" in line or line.startswith("0::"))
    assert memory == f"{parent}/{c}"
    cri.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
    # the pod's own cgroups are gone with it; the parent is the kubelet's to remove, as here
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / parent.lstrip("/").split("/")[0]
        assert not (hierarchy / parent.lstrip("/") / c).exists()
        if top.is_dir():
            for d in sorted(top.rglob("*"), reverse=True):
                if d.is_dir():
                    d.rmdir()
            top.rmdir()
