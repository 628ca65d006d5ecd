"""`update` (resources of a running container, its restart policy) and `rename`."""

from __future__ import annotations

from dockyard import rootless
from dockyard.containers import names
from dockyard.containers.request import check_cpus, check_host_config, check_memory, swap_warnings
from dockyard.errors import Conflict, InvalidArgument
from dockyard.runtime import cgroups
from dockyard.runtime.delegation import refuse_limits


class Update:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def update(self, ref: str, body: dict) -> list[str]:
        """`docker update`: resources of a running container and its restart policy."""
        c = self.get(ref)
        allowed = {"Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpuQuota", "CpuPeriod",
                   "CpusetCpus", "CpusetMems", "PidsLimit", "RestartPolicy"}
        unknown = [k for k, v in body.items() if k not in allowed and v not in (None, 0, "", [], {})]
        if unknown:
            raise InvalidArgument(f"updating {', '.join(sorted(unknown))} is not supported")
        if rootless.active():
            refuse_limits(body)
        hc = dict(c.host_config)
        # as dockerd: a zero is "not asked" (the CLI sends every field), PidsLimit is asked when present
        hc.update({k: v for k, v in body.items() if v not in (None, 0, "") or (k == "PidsLimit" and v is not None)})
        if "RestartPolicy" in body and not (body["RestartPolicy"] or {}).get("Name"):
            hc["RestartPolicy"] = c.host_config.get("RestartPolicy") or {"Name": "no", "MaximumRetryCount": 0}
        check_memory(body)
        check_cpus(body)
        if "RestartPolicy" in body:
            hc = check_host_config(hc)
        swap_limit = cgroups.swap_limit_supported()
        warnings = swap_warnings(hc, swap_limit) if body.get("MemorySwap") else []
        if c.running:
            from dockyard.runtime.spec import RunOptions, resources
            opts = RunOptions(memory=int(hc.get("Memory") or 0), memory_swap=int(hc.get("MemorySwap") or 0),
                              swap_limit=swap_limit,
                              memory_reservation=int(hc.get("MemoryReservation") or 0),
                              nano_cpus=int(hc.get("NanoCpus") or 0), cpu_shares=int(hc.get("CpuShares") or 0),
                              cpu_quota=int(hc.get("CpuQuota") or 0), cpu_period=int(hc.get("CpuPeriod") or 0),
                              cpuset_cpus=hc.get("CpusetCpus") or "", cpuset_mems=hc.get("CpusetMems") or "",
                              pids_limit=int(hc["PidsLimit"]) if hc.get("PidsLimit") else None)
            cgroups.open_cgroup(f"{self._cgroup_parent(c).rstrip('/')}/{c.id}").apply(resources(opts))
        c.host_config = hc
        self.store.save(c, "host_config")
        self.event(c, "update")
        return warnings

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        new = names.validate(new_name)
        if new == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        other = self.store.find(new)
        if other is not None and other.name == new:
            raise Conflict(f'Error when allocating new name: Conflict. The container name "/{new}" is already in use by container "{other.id}". '
                           "You have to remove (or rename) that container to be able to reuse that name.")
        old, c.name = c.name, new
        self.store.save(c, "name")
        self.event(c, "rename", oldName="/" + old)
