"""`start`: the rootfs mounted, the networks joined, the OCI spec written, and the shim started
with the run's options (logging, restart policy, health probe, exit hooks)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import IO

from dockyard import rootless
from dockyard.containers import foreground, health, hooks, links, logdrivers
from dockyard.containers.logdrivers import keeps_log
from dockyard.containers.mounts import plan, resolve
from dockyard.containers.record import Container, rfc3339
from dockyard.containers.runtimes import builtin, runtime_binary
from dockyard.containers.request import check_cpus, init_binary, log_limits
from dockyard.errors import Conflict, DockyardError, InvalidArgument
from dockyard.runtime import cgroups


class Start:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def hold_foreground(self, container_id: str) -> IO:
        """Mark the caller as the foreground client of the container's next run: while the
        returned file stays open, the shim runs no exit hook and the caller records the exit
        (and --rm) itself. The lock goes with the caller's process, however it ends."""
        import fcntl
        rd = self.run_dir(container_id)
        rd.mkdir(parents=True, exist_ok=True)
        f = open(rd / foreground.LOCK, "a")
        fcntl.flock(f, fcntl.LOCK_SH)
        return f

    def start(self, ref: str, *, attach: bool = False):
        """Start a created or exited container. With `attach`, the container is held until
        our attach socket is connected (so no output is missed) and the socket is returned."""
        with self._lifecycle(self.get(ref).id):
            c = self.store.get(ref)  # as it is now that no exit hook is releasing it
            if c.status in ("running", "restarting"):
                return None
            if c.status == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if attach:
                self.event(c, "attach")
            return self._start(c, attach)

    def _start(self, c: Container, attach: bool):
        from dockyard.runtime.shim import protocol

        rd = self.run_dir(c.id)
        self._reset_run_dirs(c.id)
        rootfs = rd / "rootfs"
        try:
            check_cpus(c.host_config)
            self._mount_rootfs(c, rootfs)
            _make_working_dir(rootfs, c.config.get("WorkingDir") or "")
            linked = links.resolve(self, c) if c.host_config["NetworkMode"] == "bridge" else links.Resolved([], [])
            att = self._attach_network(c, linked.hosts)
            planned = plan(c.host_config, c.config, self.engine.volumes, self.get)
            c.mounts = resolve(planned, self.engine.volumes, rootfs, known=c.mounts, user=c.id)
            opts = self._run_options(c, [p.mount for p in planned], att)
            opts.link_env = linked.env
            from dockyard.runtime.spec import generate_spec
            spec = generate_spec(opts, c.config, str(rootfs))
            (rd / "config.json").write_text(json.dumps(spec))
            c.run_id = os.urandom(8).hex()
            self.store.save(c, "run_id")
            args = self._shim_args(c, spec, attach, c.run_id)
            args.health = self._write_probe(c, spec)
            started_at = rfc3339()  # before the process runs: a quick exit never precedes its start
            from dockyard.runtime.shim import adopt
            if args.keep_after_exit and adopt.usable():  # dockyard's own runtime, from a plain CLI
                pid, sock = adopt.start_adopted(args, self._runtime(c))
            elif attach:
                pid, sock = protocol.start_shim_attached(args.argv(), str(self.shim_dir(c.id)))
            else:
                pid, sock = protocol.start_shim(args.argv()), None
            if rootless.active() and not args.keep_after_exit:  # runc, crun: none of ours records their init
                cgroups.open_cgroup(self._cgroup_path(c)).add(pid)  # (runtime/pidgroup.py)
        except BaseException as e:
            self._release(c)
            c.state.update(Status="exited" if c.state["StartedAt"] != "0001-01-01T00:00:00Z" else "created",
                           Error=getattr(e, "message", str(e)), ExitCode=exit_code_for(e))
            self.store.save(c, "state", "mounts")
            if c.state["ExitCode"] != 125 and type(e) in (DockyardError, OSError):
                # a command that is missing or not executable: the request's mistake (dockerd: 400)
                raise InvalidArgument(c.state["Error"]) from e
            raise
        c.state.update(Status="running", Running=True, Paused=False, Restarting=False, OOMKilled=False, Dead=False,
                       Pid=pid, ExitCode=0, Error="", StartedAt=started_at, FinishedAt="0001-01-01T00:00:00Z")
        health.started(c.state, c.config)
        self.store.save(c, "state", "mounts", "network_settings", "run_id")
        self._mount_events(c, "mount")
        self._network_events(c, "connect")
        self.event(c, "start")
        return sock

    def _reset_run_dirs(self, cid: str) -> None:
        shim_dir = self.shim_dir(cid)
        if shim_dir.exists():
            shutil.rmtree(shim_dir)
        shim_dir.mkdir(parents=True)
        (self.run_dir(cid) / "rootfs").mkdir(parents=True, exist_ok=True)

    def _mount_rootfs(self, c: Container, rootfs: Path) -> None:
        if os.path.ismount(rootfs):
            return
        from dockyard.snapshots.mount import mount
        mount(self.engine.snapshots.mounts(c.id)[0], rootfs, throwaway=bool(c.host_config.get("AutoRemove")))

    def _run_options(self, c: Container, mounts, att):
        from dockyard.runtime.spec import RunOptions, Ulimit
        hc, cfg = c.host_config, c.config
        d = self.dir(c.id)
        opts = RunOptions(
            container_id=c.id, cgroup_parent=self._cgroup_parent(c),
            tty=cfg["Tty"], init=bool(hc.get("Init")), init_path=init_binary() if hc.get("Init") else "",
            ulimits=[Ulimit(u["Name"], int(u["Soft"]), int(u["Hard"])) for u in hc.get("Ulimits") or []],
            oom_score_adj=int(hc.get("OomScoreAdj") or 0), privileged=bool(hc.get("Privileged")),
            cap_add=list(hc.get("CapAdd") or []), cap_drop=list(hc.get("CapDrop") or []),
            security_opt=list(hc.get("SecurityOpt") or []), readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
            group_add=list(hc.get("GroupAdd") or []), hostname=cfg.get("Hostname") or c.id[:12],
            domainname=cfg.get("Domainname") or "",
            netns_path=att.netns_path or "", network_mode="host" if att.netns_path is None else "",
            pid_mode="host" if hc.get("PidMode") == "host" else "", ipc_mode="host" if hc.get("IpcMode") == "host" else "",
            uts_mode="host" if hc.get("UTSMode") == "host" else "", ns_paths=self._joined_namespaces(c),
            cgroupns_mode="host" if hc.get("CgroupnsMode") == "host" else "private",
            sysctls=dict(hc.get("Sysctls") or {}),
            mounts=mounts, tmpfs=dict(hc.get("Tmpfs") or {}),
            shm_size=int(hc.get("ShmSize") or 64 << 20), shm_path=self._shm_path(c),
            hosts_path=str(d / "hosts") if (d / "hosts").exists() else "",
            hostname_path=str(d / "hostname") if (d / "hostname").exists() else "",
            resolv_conf_path=str(d / "resolv.conf") if (d / "resolv.conf").exists() else "",
            devices=[_device(x) for x in hc.get("Devices") or []],
            device_cgroup_rules=list(hc.get("DeviceCgroupRules") or []),
            memory=int(hc.get("Memory") or 0), memory_swap=int(hc.get("MemorySwap") or 0),
            swap_limit=cgroups.swap_limit_supported(),
            memory_reservation=int(hc.get("MemoryReservation") or 0), nano_cpus=int(hc.get("NanoCpus") or 0),
            cpu_shares=int(hc.get("CpuShares") or 0), cpu_quota=int(hc.get("CpuQuota") or 0),
            cpu_period=int(hc.get("CpuPeriod") or 0), cpuset_cpus=hc.get("CpusetCpus") or "",
            cpuset_mems=hc.get("CpusetMems") or "",
            pids_limit=int(hc["PidsLimit"]) if hc.get("PidsLimit") not in (None, 0) else None,
        )
        return opts

    def _shm_path(self, c: Container) -> str:
        """Where /dev/shm comes from, by IpcMode as dockerd has it: the host's (host); a tmpfs
        mounted on the host's side for this run, which containers joining its IPC bind too
        (shareable); the donor's (container:X, which must be shareable or host); "" for a
        tmpfs of the container's own (private, the default). After _joined_namespaces."""
        mode = c.host_config.get("IpcMode") or ""
        if mode == "host":
            return "/dev/shm"
        if mode == "shareable":
            shm = self.run_dir(c.id) / "shm"
            shm.mkdir(exist_ok=True)
            if not os.path.ismount(shm):
                from dockyard.runtime import linux
                linux.Syscalls().mount("shm", str(shm), "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
                                       f"mode=1777,size={int(c.host_config.get('ShmSize') or 64 << 20)}")
            return str(shm)
        if mode.startswith("container:"):
            donor = self.get(mode.split(":", 1)[1])
            kind = donor.host_config.get("IpcMode") or ""
            if kind not in ("shareable", "host"):
                raise InvalidArgument(f"can't join IPC of container {donor.id}: non-shareable IPC "
                                      "(hint: use IpcMode:shareable for the donor container)")
            return "/dev/shm" if kind == "host" else str(self.run_dir(donor.id) / "shm")
        return ""

    def _joined_namespaces(self, c: Container) -> dict[str, str]:
        """`--ipc container:X` and `--pid container:X`: X's namespaces, by its init's /proc
        entry (dockerd's words when X is not running)."""
        paths = {}
        for key, kind, what in (("IpcMode", "ipc", "IPC"), ("PidMode", "pid", "PID")):
            mode = c.host_config.get(key) or ""
            if mode.startswith("container:"):
                other = self.get(mode.split(":", 1)[1])
                if not other.running or not other.state.get("Pid"):
                    raise Conflict(f"cannot join {what} of a non running container: {other.id}")
                paths[kind] = f"/proc/{other.state['Pid']}/ns/{kind}"
        return paths

    def _shim_args(self, c: Container, spec: dict, attach: bool, run_id: str):
        from dockyard.runtime.shim import protocol
        runtime = c.host_config.get("Runtime") or "dockyard"
        binary = runtime_binary(runtime)
        size, files = log_limits(c.host_config)
        rp = c.host_config["RestartPolicy"]
        restart = rp["Name"] + (f":{rp['MaximumRetryCount']}" if rp["Name"] == "on-failure" and rp["MaximumRetryCount"] else "")
        cg_path = (spec.get("linux") or {}).get("cgroupsPath") or ""
        return protocol.ShimArgs(
            container_id=c.id, bundle=str(self.run_dir(c.id)), state_dir=str(self.shim_dir(c.id)),
            runtime=binary, runtime_root=str(self.runtime_root(runtime)),
            log_path=str(self.log_path(c)) if keeps_log(c.host_config) else os.devnull,
            log_format=logdrivers.shim_format(c.host_config),
            log_max_size=size, log_max_files=files, tty=c.config["Tty"], stdin=c.config["OpenStdin"],
            wait_attach=attach, keep_after_exit=builtin(runtime), restart=restart,
            foreground_lock=str(self.run_dir(c.id) / foreground.LOCK),
            hook_socket=str(hooks.socket_path(self.engine.run_dir)),
            oom_file=protocol.oom_file(cg_path) if cg_path else "",
            on_exit=[*self._hook_argv(), "cleanup", c.id, run_id],
            on_health=[*self._hook_argv(), "health-event", c.id, run_id])

    def _hook_argv(self) -> list[str]:
        return hooks.argv(self.engine.root, self.engine.run_dir)

    def _write_probe(self, c: Container, spec: dict) -> str:
        """The health probe of this start for the shim, "" when the container has none: the
        container's process with the probe's command, as `exec` would run it."""
        argv = health.command(c.config)
        if argv is None:
            return ""
        from dockyard.containers.execprofile import cgroup_dirs, seccomp_program
        from dockyard.containers.process import exec_process
        process = {**spec["process"], **exec_process(self, c, {"Cmd": argv})}
        return health.write_probe(self.shim_dir(c.id), c.config, process, cgroup_dirs(spec),
                                  seccomp_program(str(self.engine.run_dir), spec))


def _device(spec: dict):
    from dockyard.runtime.spec import DeviceMapping
    return DeviceMapping(spec.get("PathOnHost", ""), spec.get("PathInContainer") or spec.get("PathOnHost", ""),
                         spec.get("CgroupPermissions") or "rwm")


def exit_code_for(e: BaseException) -> int:
    """docker run's codes for a container that could not start: 127 not found, 126 not executable."""
    text = str(getattr(e, "message", e)).lower()
    if "no such file" in text or "not found" in text:
        return 127
    if "permission denied" in text or "not executable" in text:
        return 126
    return 125


def _make_working_dir(rootfs: Path, wd: str) -> None:
    """Docker makes a missing working directory (root's, 0755) before the process starts."""
    if not wd or wd == "/":
        return
    from dockyard.runtime.securejoin import secure_join
    path = Path(secure_join(str(rootfs), wd))
    if path.exists() and not path.is_dir():
        raise InvalidArgument(f"Cannot mkdir: {wd} is not a directory")
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
