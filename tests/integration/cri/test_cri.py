"""`dockyard cri serve` driven as the kubelet drives a runtime: the CRI v1 gRPC services on a
unix socket, through stubs generated from the same published definition (no crictl or
kubelet is packaged for this machine). Real pods: a pause process, containers joining its
namespaces, the CRI's log format, exec, and nothing left behind."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from dockyard.cri.protos import cri_runtime_v1_pb2 as pb, cri_runtime_v1_pb2_grpc as rpc
from tests.conftest import DOCKYARD, Dockyard
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


@pytest.fixture
def cri(dy: Dockyard, busybox, tmp_path):
    sock = f"{dy.run_dir}/cri.sock"
    proc = subprocess.Popen([DOCKYARD, "cri", "serve", "--listen", f"unix://{sock}"], env=dy.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert "CRI serving on" in proc.stderr.readline()
        client = CRI(sock)
        yield client
        client.channel.close()
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
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
    own_pids = pb.LinuxSandboxSecurityContext(namespace_options=pb.NamespaceOption(pid=pb.CONTAINER))
    pod, cfg = cri.pod("web", tmp_path / "logs", hostname="webpod", labels={"app": "web", "tier": "front"},
                       annotations={"note": "a"}, linux=pb.LinuxPodSandboxConfig(security_context=own_pids))
    st = cri.rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).status
    assert st.state == pb.SANDBOX_READY and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", st.network.ip)
    assert (st.metadata.name, st.metadata.namespace, dict(st.labels), dict(st.annotations)) == \
        ("web", "default", {"app": "web", "tier": "front"}, {"note": "a"})

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

    listed = cri.rt.ListContainers(pb.ListContainersRequest()).containers
    assert {(c.metadata.name, c.pod_sandbox_id, c.state) for c in listed} == \
        {("srv", pod, pb.CONTAINER_RUNNING), ("side", pod, pb.CONTAINER_RUNNING)}
    by_label = cri.rt.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector={"role": "srv"})))
    assert [c.id for c in by_label.containers] == [srv]
    pods = cri.rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={"app": "web"})))
    assert [p.id for p in pods.items] == [pod]
    assert not cri.rt.ListPodSandbox(pb.ListPodSandboxRequest(
        filter=pb.PodSandboxFilter(label_selector={"app": "db"}))).items

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
    # the pod's kernel objects are gone with it
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(dy.run_dir) + "/" not in mounts.replace(f"{dy.run_dir}/cri.sock", "")


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
