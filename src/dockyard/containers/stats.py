"""`docker stats`: one sample of a container's cgroup and network counters, in the Engine API's shape.

CPU percent needs two samples; the caller keeps the previous one (`precpu_stats`), as the
docker CLI does with the stream.
"""

from __future__ import annotations

import os
import time

from dockyard.containers.record import rfc3339


def _system_cpu_ns() -> int:
    """Total CPU time of the host in ns, from /proc/stat (what docker uses as system_cpu_usage)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    ticks = sum(int(x) for x in fields)
    return ticks * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def interfaces(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.readlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, data = line.split(":", 1)
        v = [int(x) for x in data.split()]
        if name.strip() == "lo":
            continue
        out[name.strip()] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                             "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


def sample(service, c) -> dict:
    from dockyard.runtime import cgroups
    st = cgroups.CgroupStats()
    if c.running:
        try:
            st = cgroups.open_cgroup(f"{service._cgroup_parent(c).rstrip('/')}/{c.id}").stats()
        except OSError:
            pass
    limit = st.memory_limit if st.memory_limit and st.memory_limit < (1 << 62) else os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cpus = os.cpu_count() or 1
    return {
        "read": rfc3339(time.time()), "preread": "0001-01-01T00:00:00Z", "id": c.id, "name": "/" + c.name,
        "pids_stats": {"current": st.pids_current, **({"limit": c.host_config["PidsLimit"]} if c.host_config.get("PidsLimit") else {})},
        "cpu_stats": {"cpu_usage": {"total_usage": st.cpu_usage_ns, "usage_in_kernelmode": st.cpu_kernel_ns,
                                    "usage_in_usermode": st.cpu_user_ns,
                                    **({"percpu_usage": st.percpu_ns} if st.percpu_ns else {})},
                      "system_cpu_usage": _system_cpu_ns(), "online_cpus": cpus,
                      "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
        "memory_stats": {"usage": st.memory_usage, "max_usage": st.memory_max_usage, "limit": limit,
                         "stats": st.memory_stat, "failcnt": 0},
        "blkio_stats": {"io_service_bytes_recursive": None},
        "networks": interfaces(c.state["Pid"]) if c.running and c.state.get("Pid") else {},
        "num_procs": 0, "storage_stats": {},
    }
