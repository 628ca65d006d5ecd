"""A pod through the CRI, as the kubelet starts one: RunPodSandbox, CreateContainer,
StartContainer, then the first ExecSync answering; and its teardown (StopPodSandbox,
RemovePodSandbox). dockyard's `cri serve` against containerd's CRI plugin where containerd
is installed (a private instance: its own root, state, socket, CNI bridge and subnet),
engines alternating run by run.

    .venv/bin/python benchmarks/cri_pods.py [RUNS]
    PODS=100 .venv/bin/python benchmarks/cri_pods.py   # also ListContainers with 100 pods running
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCKYARD, env_for, report, teardown  # noqa: E402

import grpc  # noqa: E402

from dockyard.cri.protos import cri_runtime_v1_pb2 as pb, cri_runtime_v1_pb2_grpc as rpc  # noqa: E402

# each engine's pods on a bridge and subnet of their own, through the same CNI plugins
CNI = {"dockyard": ("dybench-cri1", "10.241.8.0/24"), "containerd": ("dybench-cri0", "10.241.7.0/24")}


def cni_conf(d: Path, engine: str) -> Path:
    bridge, subnet = CNI[engine]
    (d / "cni").mkdir(parents=True)
    (d / "cni" / "10-bench.conflist").write_text(
        '{"cniVersion": "0.4.0", "name": "bench-%s", "plugins": [{"type": "bridge", "bridge": "%s", '
        '"isGateway": true, "ipMasq": true, "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s"}]], '
        '"dataDir": "%s"}}, {"type": "portmap", "capabilities": {"portMappings": true}}, {"type": "firewall"}]}'
        % (engine, bridge, subnet, d / "ipam"))
    return d / "cni"


def cni_teardown(engine: str) -> None:
    bridge, subnet = CNI[engine]
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    for line in rules.splitlines():
        if subnet in line and line.startswith("-A POSTROUTING"):
            subprocess.run(["iptables", "-t", "nat", "-D", *line.split()[1:]], capture_output=True)


def wait_socket(path: str, proc: subprocess.Popen, what: str) -> None:
    for _ in range(400):
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited {proc.returncode}")
        time.sleep(0.05)
    raise SystemExit(f"{what} did not come up")


def remove_pods(sock: str) -> None:
    """Through the CRI, so the CNI plugins release what they gave the pods."""
    stub = rpc.RuntimeServiceStub(grpc.insecure_channel(f"unix://{sock}"))
    for p in stub.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=60).items:
        stub.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=p.id), timeout=120)
        stub.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=p.id), timeout=120)


def start_pod(stub: rpc.RuntimeServiceStub, n: int, logs: Path) -> str:
    """A pod with one container, left running."""
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=f"m{n}", uid=f"uid-m{n}", namespace="bench"),
                              log_directory=str(logs / f"m{n}"))
    pod = stub.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg), timeout=120).pod_sandbox_id
    cc = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"),
                            image=pb.ImageSpec(image="docker.io/library/busybox:latest"), command=["sleep", "3000"])
    cid = stub.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod, config=cc, sandbox_config=cfg),
                               timeout=120).container_id
    stub.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=120)
    return pod


def one_pod(stub: rpc.RuntimeServiceStub, n: int, logs: Path) -> tuple[float, float]:
    cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=f"b{n}", uid=f"uid-b{n}", namespace="bench"),
                              log_directory=str(logs / f"b{n}"),
                              linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
                                  namespace_options=pb.NamespaceOption(pid=pb.CONTAINER))))
    t0 = time.perf_counter()
    pod = stub.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg), timeout=120).pod_sandbox_id
    cc = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image="docker.io/library/busybox:latest"),
                            command=["sleep", "300"], log_path="app/0.log",
                            linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                                namespace_options=pb.NamespaceOption(pid=pb.CONTAINER))))
    cid = stub.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod, config=cc, sandbox_config=cfg),
                               timeout=120).container_id
    stub.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=120)
    r = stub.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["true"], timeout=30), timeout=60)
    assert r.exit_code == 0, r
    up = time.perf_counter() - t0
    t0 = time.perf_counter()
    stub.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=120)
    stub.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=120)
    return up, time.perf_counter() - t0


class Dockyard:
    name = "dockyard"

    def __init__(self, work: Path) -> None:
        self.env = env_for(work / "dockyard")
        subprocess.run([DOCKYARD, "image", "bootstrap", "busybox"], env=self.env, check=True, capture_output=True)
        self.sock = str(work / "dockyard" / "run" / "cri.sock")
        conf = cni_conf(work / "dockyard", "dockyard")
        self.proc = subprocess.Popen([DOCKYARD, "cri", "serve", "--listen", f"unix://{self.sock}",
                                      "--cni-conf-dir", str(conf)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_socket(self.sock, self.proc, "dockyard cri serve")

    def close(self) -> None:
        remove_pods(self.sock)
        self.proc.terminate()
        self.proc.wait(30)
        teardown(self.env)
        cni_teardown("dockyard")


class Containerd:
    """containerd (Debian's, 1.6) with only what its CRI plugin needs, all under `work`."""

    name = "containerd"

    def __init__(self, work: Path, dockyard_env: dict) -> None:
        d = work / "containerd"
        conf = cni_conf(d, "containerd")
        self.sock = str(d / "containerd.sock")
        (d / "config.toml").write_text(f"""version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{self.sock}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "dockyard.local/pause:catatonit"
  # root here lacks CAP_SYS_RESOURCE: the pause container's oom_score_adj of -998 would fail
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{conf}"
""")
        self.proc = subprocess.Popen(["containerd", "--config", str(d / "config.toml")],
                                     stdout=subprocess.DEVNULL, stderr=open(d / "containerd.log", "wb"))
        try:
            wait_socket(self.sock, self.proc, "containerd")
            # the same two images, from dockyard's store (no registry here)
            for ref in ("busybox:latest", "dockyard.local/pause:catatonit"):
                tar = d / "image.tar"
                subprocess.run([DOCKYARD, "save", "-o", str(tar), ref], env=dockyard_env, check=True)
                subprocess.run(["ctr", "-a", self.sock, "-n", "k8s.io", "images", "import", str(tar)], check=True,
                               capture_output=True)
        except BaseException:
            self.proc.terminate()
            self.proc.wait(30)
            raise

    def close(self) -> None:
        remove_pods(self.sock)
        self.proc.terminate()
        self.proc.wait(30)
        cni_teardown("containerd")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    work = Path(tempfile.mkdtemp(prefix="dybench-cri-", dir="/var/tmp"))
    engines = [Dockyard(work)]
    try:
        stubs = {"dockyard": rpc.RuntimeServiceStub(grpc.insecure_channel(f"unix://{engines[0].sock}"))}
        one_pod(stubs["dockyard"], 0, work / "logs" / "dockyard")  # warm-up; makes the pause image too
        if shutil.which("containerd") and shutil.which("ctr"):
            engines.append(Containerd(work, engines[0].env))  # closed below from here on
            stubs["containerd"] = rpc.RuntimeServiceStub(grpc.insecure_channel(f"unix://{engines[1].sock}"))
            one_pod(stubs["containerd"], 0, work / "logs" / "containerd")
        up: dict[str, list[float]] = {e.name: [] for e in engines}
        down: dict[str, list[float]] = {e.name: [] for e in engines}
        for n in range(1, runs + 1):
            for e in engines:
                u, d = one_pod(stubs[e.name], n, work / "logs" / e.name)
                up[e.name].append(u)
                down[e.name].append(d)
        others = {k: v for k, v in up.items() if k != "dockyard"}
        report("pod up (RunPodSandbox + Create/StartContainer + first ExecSync)", up["dockyard"], others)
        report("pod down (StopPodSandbox + RemovePodSandbox)", down["dockyard"],
               {k: v for k, v in down.items() if k != "dockyard"})
        if os.environ.get("PODS"):  # ListContainers with that many pods running, one container each
            many = int(os.environ["PODS"])
            pods = {e.name: [] for e in engines}
            for n in range(many):
                for e in engines:
                    pods[e.name].append(start_pod(stubs[e.name], 1000 + n, work / "logs" / e.name))
            listed: dict[str, list[float]] = {e.name: [] for e in engines}
            for _ in range(20):
                for e in engines:
                    t0 = time.perf_counter()
                    got = stubs[e.name].ListContainers(pb.ListContainersRequest(), timeout=60).containers
                    listed[e.name].append(time.perf_counter() - t0)
                    assert len(got) >= many, (e.name, len(got))
            report(f"ListContainers with {many} pods", listed["dockyard"],
                   {k: v for k, v in listed.items() if k != "dockyard"})
    finally:
        for e in engines:
            e.close()
        if not os.environ.get("KEEP"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
