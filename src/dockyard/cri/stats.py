"""The CRI's stats: a container's CPU, memory and writable layer, a pod's totals with its
network and process count, read from the cgroups and /proc as `docker stats` reads them."""

from __future__ import annotations

import time

from dockyard.cri import records
from dockyard.errors import NotFound


def _cgroup(engine, c):
    from dockyard.runtime import cgroups
    if not c.running:
        return cgroups.CgroupStats()
    try:
        return cgroups.open_cgroup(f"{engine.containers._cgroup_parent(c).rstrip('/')}/{c.id}").stats()
    except OSError:
        return cgroups.CgroupStats()


def container(engine, pb, c):
    now = time.time_ns()
    st = _cgroup(engine, c)
    labels = c.config["Labels"]
    try:
        layer = engine.snapshots.usage(c.id)
    except (NotFound, OSError):  # a container being removed right now: no layer to measure
        layer = 0
    attributes = pb.ContainerAttributes(id=c.id, metadata=pb.ContainerMetadata(**records.metadata(labels)),
                                        labels=records.user_labels(labels), annotations=records.annotations(labels))
    return pb.ContainerStats(
        attributes=attributes,
        cpu=pb.CpuUsage(timestamp=now, usage_core_nano_seconds=pb.UInt64Value(value=st.cpu_usage_ns)),
        memory=pb.MemoryUsage(timestamp=now, working_set_bytes=pb.UInt64Value(value=st.memory_usage),
                              usage_bytes=pb.UInt64Value(value=st.memory_usage)),
        writable_layer=pb.FilesystemUsage(timestamp=now, fs_id=pb.FilesystemIdentifier(
            mountpoint=str(engine.snapshots.root)), used_bytes=pb.UInt64Value(value=layer)))


def pod(engine, pb, sandbox, members):
    """The sandbox's own usage plus its containers', their stats beside."""
    from dockyard.containers.stats import interfaces as counters

    now = time.time_ns()
    stats = [container(engine, pb, c) for c in members]
    own = _cgroup(engine, sandbox)
    cpu = own.cpu_usage_ns + sum(s.cpu.usage_core_nano_seconds.value for s in stats)
    mem = own.memory_usage + sum(s.memory.usage_bytes.value for s in stats)
    procs = own.pids_current + sum(_cgroup(engine, c).pids_current for c in members)
    interfaces = [pb.NetworkInterfaceUsage(name=name, rx_bytes=pb.UInt64Value(value=v["rx_bytes"]),
                                           rx_errors=pb.UInt64Value(value=v["rx_errors"]),
                                           tx_bytes=pb.UInt64Value(value=v["tx_bytes"]),
                                           tx_errors=pb.UInt64Value(value=v["tx_errors"]))
                  for name, v in (counters(sandbox.state["Pid"]) if sandbox.running and sandbox.state.get("Pid") else {}).items()]
    labels = sandbox.config["Labels"]
    return pb.PodSandboxStats(
        attributes=pb.PodSandboxAttributes(id=sandbox.id, metadata=pb.PodSandboxMetadata(**records.metadata(labels)),
                                           labels=records.user_labels(labels), annotations=records.annotations(labels)),
        linux=pb.LinuxPodSandboxStats(
            cpu=pb.CpuUsage(timestamp=now, usage_core_nano_seconds=pb.UInt64Value(value=cpu)),
            memory=pb.MemoryUsage(timestamp=now, working_set_bytes=pb.UInt64Value(value=mem),
                                  usage_bytes=pb.UInt64Value(value=mem)),
            network=pb.NetworkUsage(timestamp=now, default_interface=interfaces[0] if interfaces else None,
                                    interfaces=interfaces),
            process=pb.ProcessUsage(timestamp=now, process_count=pb.UInt64Value(value=procs)),
            containers=stats))
