"""The container service: create, start, stop, kill, remove, wait, and the state behind them.

A running container is watched by its shim (runtime/shim), not by this process: the shim
records exits in its state dir and runs `dockyard container cleanup ID` when the container
is done for good. Every read here first reconciles the record with what the shim says, so
a killed CLI or a killed shim never leaves a container that claims to run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal as _signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from dockyard import rootless
from dockyard.containers import health, hooks, links, logdrivers, names
from dockyard.containers.logdrivers import ReadingUnsupported, keeps_log
from dockyard.containers.mounts import plan, resolve
from dockyard.containers.paths import ContainerPaths
from dockyard.containers.record import Container, ContainerStore, rfc3339
from dockyard.containers.views import epoch, event_attributes, settled, top_table
from dockyard.containers.request import (check_config, check_host_config, check_memory, init_binary, log_limits,
                                         merge_config, networking_config, swap_warnings)
from dockyard.network import endpoints as network_endpoints
from dockyard.errors import Conflict, DockyardError, Forbidden, InvalidArgument, NotFound
from dockyard.runtime import cgroups
from dockyard.runtime.pidgroup import refuse_limits
from dockyard.runtime.shim.records import state_dir

STOP_TIMEOUT = 10
FOREGROUND_LOCK = "foreground"  # in the run dir: see hold_foreground
_BUILTIN_DRIVERS = {"host": "host", "none": "null"}  # every other network here is a bridge


class ContainerService(ContainerPaths):
    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.store = ContainerStore(engine.db)

    @property
    def images(self):
        """The engine's image service, made on first use: `exec`, `stop` and the like never
        need it (its modules cost ~15 ms to import). The engine tells it which images
        containers use."""
        return self.engine.images

    # -- paths (the others in ContainerPaths) ---------------------------------------------
    def runtime_root(self, runtime: str) -> Path:
        return self.engine.run_dir / "runtime" / runtime

    @contextmanager
    def _lifecycle(self, cid: str) -> Iterator[None]:
        """Serialises a start with the release of the run before it (an exit hook may still be
        unmounting the rootfs when `docker start` follows `docker stop`), across processes
        and threads. Never taken twice by one caller."""
        import fcntl
        try:  # the container's directory is made with it and goes with it: never made again here
            fd = os.open(self.dir(cid) / "lifecycle.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def event(self, c: Container, action: str, **extra: str) -> None:
        """Log a container event as dockerd does: the container's labels, its image and name,
        then the action's own attributes."""
        self.engine.events.emit("container", action, c.id, **event_attributes(c, **extra))

    def _network_events(self, c: Container, action: str) -> None:
        """connect / disconnect of each network the container joins or leaves with a run."""
        for name, ep in (c.network_settings.get("Networks") or {}).items():
            self.engine.events.emit("network", action, ep.get("NetworkID") or name, container=c.id, name=name,
                                    type=_BUILTIN_DRIVERS.get(name, "bridge"))

    def _mount_events(self, c: Container, action: str) -> None:
        """mount / unmount of each named or anonymous volume a run uses."""
        for m in c.mounts:
            if m.get("Type") == "volume" and m.get("Name"):
                extra = {"destination": m["Destination"], "propagation": m.get("Propagation", ""),
                         "read/write": str(bool(m.get("RW", True))).lower()} if action == "mount" else {}
                self.engine.events.emit("volume", action, m["Name"], container=c.id, driver=m.get("Driver") or "local",
                                        **extra)

    def volume_users(self, name: str) -> list[str]:
        return [c.id for c in self.store.all() if any(m.get("Name") == name for m in c.mounts)]

    # -- lookup ----------------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        return self.refresh(self.store.get(ref))

    def watch(self):
        """A StateWatch over this engine's containers (the caller closes it)."""
        from dockyard.containers.watch import StateWatch
        return StateWatch(self.engine.db.path, Path(state_dir(self.engine.run_dir, "")))

    def list(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[Container]:
        from dockyard.containers.filters import matches
        out = []
        for c in self.store.all():
            c = self.refresh(c)
            if not all and not c.running:  # filters narrow the running ones, as dockerd's do
                continue
            if filters and not matches(self, c, filters):
                continue
            out.append(c)
        return out

    # -- create ----------------------------------------------------------------------------
    def create(self, body: dict, name: str | None = None, warnings: list[str] | None = None,
               platform: str | None = None) -> Container:
        """A new container of `body` (the Engine API's create body); what dockerd would warn
        about is appended to `warnings`; with `platform` (os/arch[/variant]), of that
        platform's image, which must be present."""
        img = self.images.find(body.get("Image") or "")
        if not body.get("Image"):
            raise InvalidArgument("no image given: the request needs an Image")
        if img is None:
            from dockyard.images.service import no_such_image
            raise no_such_image(body["Image"])
        if platform:
            from dockyard.images.indexes import for_platform
            from dockyard.oci.platform import parse_platform
            img = for_platform(self.images, body["Image"], parse_platform(platform))
        from dockyard import emulation
        image_cfg = self.images.config(img)
        emulation.ensure(image_cfg.get("architecture") or emulation.host_architecture())  # another arch: QEMU
        config = merge_config(body, image_cfg.get("config") or {})
        host_config = check_host_config(body.get("HostConfig") or {})
        if rootless.active():
            refuse_limits(host_config)
        found = swap_warnings(host_config, cgroups.swap_limit_supported())
        if warnings is not None:
            warnings += found
        if not config["Cmd"] and not config["Entrypoint"]:
            raise InvalidArgument("no command specified")
        check_config(config)
        self._check_network(host_config, body.get("NetworkingConfig") or {})
        name = names.validate(name) if name else names.generate(self.store.names())
        if host_config.get("Links") and host_config["NetworkMode"] == "bridge":
            host_config["Links"] = links.record(self, name, host_config["Links"])
        cid = os.urandom(32).hex()
        if not config["Hostname"]:  # docker records the hostname the container gets
            config["Hostname"] = os.uname().nodename if host_config["NetworkMode"] == "host" else cid[:12]
        planned = plan(host_config, config, self.engine.volumes, self._volumes_source)
        nc = networking_config(body.get("NetworkingConfig") or {}, host_config["NetworkMode"], host_config.get("Links"))
        c = Container(cid, name, time.time(), body["Image"], img.id, config, host_config,
                      network_settings={"Ports": {}, "NetworkingConfig": nc,
                                        "Networks": network_endpoints.planned(host_config["NetworkMode"], nc["EndpointsConfig"])})
        with self.images.adding():
            self.dir(cid).mkdir(parents=True, exist_ok=True)
            try:
                c.mounts = resolve(planned, self.engine.volumes)
                self._prepare_rootfs(cid, self.images.top_layer(img))
                self.store.insert(c)
            except BaseException:
                self._discard(c)
                raise
        self.event(c, "create")
        return c

    def _prepare_rootfs(self, cid: str, image_top: str) -> None:
        """The container's writable snapshot, over an init layer holding the mount points the
        runtime binds onto (/etc/hosts, /proc, ...), so `diff` and `commit` show only what
        the container itself changed, as docker's init layer does."""
        from dockyard.containers.initlayer import populate
        snaps = self.engine.snapshots
        tmp = snaps.start_layer(image_top)
        try:
            lowers = snaps.lower_dirs(image_top) if snaps.whiteout_mode == "overlay" and image_top else [tmp / "fs"]
            populate(tmp / "fs", lowers)
            snaps.publish(tmp, init_key(cid), image_top, "committed")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        snaps.prepare(cid, init_key(cid))

    def _remove_rootfs(self, cid: str) -> None:
        for key in (cid, init_key(cid)):
            if self.engine.snapshots.exists(key):
                self.engine.snapshots.remove(key)

    def _check_network(self, hc: dict, nc: dict) -> None:
        """What moby checks at create: the endpoint settings (400). Networks are looked up
        when the container starts, as in moby (a network may be made in between)."""
        mode = hc["NetworkMode"]
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if not other.running:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
        for name, settings in (nc.get("EndpointsConfig") or {}).items():
            network_endpoints.EndpointRequest.from_settings(name, settings)

    def _discard(self, c: Container) -> None:
        """Undo a create that failed half-way."""
        self._remove_rootfs(c.id)
        self._remove_anonymous_volumes(c)
        shutil.rmtree(self.dir(c.id), ignore_errors=True)

    def _remove_anonymous_volumes(self, c: Container) -> None:
        """The anonymous volumes made for this container alone."""
        for m in c.mounts:
            name = m.get("Name")
            if m.get("Type") == "volume" and self._anonymous(name) and not self.volume_users(name):
                self.engine.volumes.remove(name, force=True)

    def _anonymous(self, volume: str) -> bool:
        row = self.engine.db.one("SELECT anonymous FROM volumes WHERE name=?", (volume,))
        return bool(row and row[0])

    # -- start -----------------------------------------------------------------------------
    def hold_foreground(self, container_id: str) -> IO:
        """Mark the caller as the foreground client of the container's next run: while the
        returned file stays open, the shim runs no exit hook and the caller records the exit
        (and --rm) itself. The lock goes with the caller's process, however it ends."""
        import fcntl
        rd = self.run_dir(container_id)
        rd.mkdir(parents=True, exist_ok=True)
        f = open(rd / FOREGROUND_LOCK, "a")
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
            (rd / "config.json").write_text(json.dumps(spec, indent=1))
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
        except BaseException as e:
            self._release(c)
            c.state.update(Status="exited" if c.state["StartedAt"] != "0001-01-01T00:00:00Z" else "created",
                           Error=getattr(e, "message", str(e)), ExitCode=_exit_code_for(e))
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
        mount(self.engine.snapshots.mounts(c.id)[0], rootfs)

    def _attach_network(self, c: Container, link_hosts: list[str]):
        from dockyard.network.ports import parse_publish, publish_all
        hc, cfg = c.host_config, c.config
        ports = []
        for key, bindings in (hc.get("PortBindings") or {}).items():
            for b in bindings or [{}]:
                spec = key if "/" in key else key + "/tcp"
                port, proto = spec.split("/")
                host = b.get("HostPort") or ""
                ip = b.get("HostIp") or ""
                text = f"{ip + ':' if ip else ''}{host + ':' if host or ip else ''}{port}/{proto}"
                ports.extend(parse_publish(text))
        if hc.get("PublishAllPorts"):
            ports.extend(publish_all(list((cfg.get("ExposedPorts") or {}).keys())))
        mode = hc["NetworkMode"]
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if not other.running:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            if other.host_config["NetworkMode"] == "host":
                mode = "host"  # the other container's network is the host's
            else:
                mode = f"container:{other.network_settings.get('SandboxKey') or self.engine.run_dir / 'netns' / other.id}"
        elif mode.startswith("ns:"):  # a namespace made by someone else (podman's ns:PATH; the CRI's pods)
            mode = f"container:{mode[3:]}"
        try:
            att = self._join_networks(c, mode, ports, link_hosts)
        except NotFound as e:  # a network removed (or never made) since the create
            raise NotFound(f"failed to set up container networking: {e.message}") from None
        from dockyard.network.ports import port_map
        c.network_settings.update(Networks=att.networks, Ports=port_map(att.ports, ipv6=bool(att.ip6)),
                                  SandboxKey=att.netns_path or "")
        return att

    def _join_networks(self, c: Container, mode: str, ports: list, link_hosts: list[str]):
        """The network of `mode` and the others the NetworkingConfig names, with their settings."""
        hc, cfg = c.host_config, c.config
        endpoints = dict(self._endpoints_config(c))
        primary = dict(endpoints.pop(hc["NetworkMode"], None) or {})
        primary["MacAddress"] = primary.get("MacAddress") or cfg.get("MacAddress")
        request = network_endpoints.EndpointRequest.from_settings
        return self.engine.networks.attach(
            c.id, c.name, mode=mode, hostname=cfg.get("Hostname") or c.id[:12], files_dir=self.dir(c.id),
            endpoint=request(hc["NetworkMode"], primary),
            more={name: request(name, ep) for name, ep in endpoints.items()},
            ports=ports, dns=hc.get("Dns") or (), dns_search=hc.get("DnsSearch") or (),
            dns_options=hc.get("DnsOptions") or (), add_hosts=[*(hc.get("ExtraHosts") or ()), *link_hosts])

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
            sysctls=dict(hc.get("Sysctls") or {}),
            mounts=mounts, tmpfs=dict(hc.get("Tmpfs") or {}),
            shm_size=int(hc.get("ShmSize") or 64 << 20),
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
        binary = _runtime_binary(runtime)
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
            wait_attach=attach, keep_after_exit=_builtin(runtime), restart=restart,
            foreground_lock=str(self.run_dir(c.id) / FOREGROUND_LOCK),
            hook_socket=str(hooks.socket_path(self.engine.run_dir)),
            oom_file=protocol.oom_file(cg_path) if cg_path else "",
            on_exit=[*self._hook_argv(), "cleanup", c.id, run_id],
            on_health=[*self._hook_argv(), "health-event", c.id, run_id])

    def _hook_argv(self) -> list[str]:
        """`dockyard ... container` on this root: the shim's hooks are its hidden subcommands."""
        return [_dockyard_binary(), "--root", str(self.engine.root), "--run-dir", str(self.engine.run_dir), "container"]

    def _write_probe(self, c: Container, spec: dict) -> str:
        """The health probe of this start for the shim, "" when the container has none: the
        container's process with the probe's command, as `exec` would run it."""
        argv = health.command(c.config)
        if argv is None:
            return ""
        from dockyard.containers.process import exec_process
        process = {**spec["process"], **exec_process(self, c, {"Cmd": argv})}
        linux_spec = spec.get("linux") or {}
        cg_path = linux_spec.get("cgroupsPath")
        dirs = [str(d) for d in dict.fromkeys(cgroups.open_cgroup(cg_path).dirs().values())] if cg_path else []
        seccomp = None
        if linux_spec.get("seccomp"):
            from dockyard.runtime.builtin import SECCOMP_CACHE
            from dockyard.runtime.seccomp import cached_program
            seccomp = cached_program(linux_spec["seccomp"], str(self.runtime_root("dockyard") / SECCOMP_CACHE))
        return health.write_probe(self.shim_dir(c.id), c.config, process, dirs, seccomp)

    def health_event(self, ref: str, run_id: str, new_status: str) -> None:
        """The shim's health hook: the container's health status changed."""
        c = self.store.find(ref)
        if c is not None and c.run_id == run_id:
            self.event(c, health.event_action(new_status))

    # -- state -----------------------------------------------------------------------------
    def refresh(self, c: Container) -> Container:
        """Bring the record in line with the shim: running, restarting, or done."""
        from dockyard.runtime.shim import protocol

        if c.status not in ("running", "paused", "restarting"):
            return c
        sd = str(self.shim_dir(c.id))
        if settled(c, sd):
            return c
        alive = protocol.shim_alive(sd)
        exit_info = protocol.read_exit(sd)
        if alive:
            if "Health" in c.state:
                c.state["Health"] = health.live(c.state, Path(sd))
            started = protocol.read_started(sd) or {}
            changed = False
            if exit_info and c.status != "restarting":
                c.state.update(Status="restarting", Restarting=True, Running=True, ExitCode=exit_info["exit_code"],
                               FinishedAt=exit_info.get("finished_at") or c.state["FinishedAt"])
                changed = True
            elif not exit_info and started.get("restart_count", 0) != c.restart_count:
                c.restart_count = started.get("restart_count", 0)
                c.state.update(Status="running", Restarting=False, Running=True, Pid=started.get("pid", c.state["Pid"]),
                               StartedAt=started.get("started_at") or c.state["StartedAt"], ExitCode=0)
                changed = True
            if changed:
                self.store.save(c, "state", "restart_count")
            return c
        if exit_info is None:
            # the shim was killed: nobody watches the container any more, so end it
            exit_info = {"exit_code": 137, "oom_killed": False, "finished_at": rfc3339(),
                         "restart_count": c.restart_count, "error": "the container's shim was killed"}
            self._kill_orphan(c)
        return self.finalize(c, exit_info)

    def _kill_orphan(self, c: Container) -> None:
        runtime = c.host_config.get("Runtime") or "dockyard"
        if _builtin(runtime):
            return  # _release deletes it in-process, by force, as finalize and remove go on to do
        subprocess.run([_runtime_binary(runtime), "--root", str(self.runtime_root(runtime)), "delete", "-f", c.id],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finalize(self, c: Container, exit_info: dict, run_id: str | None = None) -> Container:
        """The container is done for good: record how it ended and release what it held.
        Safe to run twice (the shim's exit hook and a concurrent CLI may both get here);
        with `run_id`, only if the container has not been started again since, and not at all
        once it is removed (a list or an exit hook may get here while another client removes it)."""
        try:
            with self._lifecycle(c.id):
                return self._finalize(c, exit_info, run_id)
        except NotFound:
            return c

    def _finalize(self, c: Container, exit_info: dict, run_id: str | None) -> Container:
        with self.engine.db.write() as conn:
            row = conn.execute("SELECT state, run_id FROM containers WHERE id=?", (c.id,)).fetchone()
            if row is None or (run_id is not None and row[1] != run_id):
                return c
            current = json.loads(row[0])
            first = current.get("Status") in ("running", "paused", "restarting")
            if first:
                if "Health" in current:  # the monitor stopped: docker reports that as unhealthy
                    c.state["Health"] = {**health.live(current, self.shim_dir(c.id)), "Status": "unhealthy"}
                c.state.update(Status="exited", Running=False, Paused=False, Restarting=False,
                               ExitCode=int(exit_info.get("exit_code", 0)), OOMKilled=bool(exit_info.get("oom_killed")),
                               FinishedAt=exit_info.get("finished_at") or rfc3339(), Pid=0,
                               Error=exit_info.get("error", ""))
                c.restart_count = int(exit_info.get("restart_count", c.restart_count))
                # the networks as a stopped container shows them, with the exit: a reader that sees
                # it exited never sees its old addresses (the release below takes a while)
                c.network_settings.update(Ports={}, SandboxKey="",
                                          Networks=network_endpoints.stopped(c.network_settings.get("Networks") or {}))
                conn.execute("UPDATE containers SET state=?, restart_count=?, network_settings=? WHERE id=?",
                             (json.dumps(c.state), c.restart_count, json.dumps(c.network_settings), c.id))
            else:
                c.state = current
        if not first:
            return c  # whoever recorded the exit released the resources too
        self._release(c)
        if first:
            ran = max(0, int(epoch(c.state["FinishedAt"]) - epoch(c.state["StartedAt"])))
            self.event(c, "die", exitCode=str(c.state["ExitCode"]), execDuration=str(ran))
            self._network_events(c, "disconnect")
            self._mount_events(c, "unmount")
            if c.state["OOMKilled"]:
                self.event(c, "oom")
        return c

    def _release(self, c: Container) -> None:
        """Network, rootfs mount and runtime files of a container that no longer runs."""
        if _builtin(c.host_config.get("Runtime") or "dockyard"):
            try:  # its shim left this to us (--keep-after-exit): in-process, no runtime command
                self._runtime(c).delete(c.id, force=True)
            except DockyardError:
                pass  # never created, or already deleted
        try:
            if self.engine.networks.attachment(c.id) is not None:
                self.engine.networks.detach(c.id)
        except DockyardError:
            pass
        from dockyard.snapshots.mount import unmount
        unmount(self.run_dir(c.id) / "rootfs")
        for m in c.mounts:  # the last user of a volume with options unmounts it
            if m.get("Type") == "volume" and m.get("Name"):
                self.engine.volumes.release(m["Name"], c.id)

    def cleanup(self, ref: str, run_id: str) -> None:
        """The shim's exit hook: record the exit, release resources, honour --rm. `run_id`
        names the run the hook belongs to: if the container was started again since, the
        hook is stale and must not touch the new run."""
        from dockyard.runtime.shim import protocol
        c = self.store.find(ref)
        if c is None or c.run_id != run_id:
            return
        info = protocol.read_exit(str(self.shim_dir(c.id)))
        if info is None:
            return
        c = self.finalize(c, info, run_id=run_id)
        if c.host_config.get("AutoRemove") and not _foreground_owner_alive(self.run_dir(c.id)):
            self.remove(c.id, force=True, volumes=True)  # which also tries the cgroup parent
        else:
            # finalize deleted the container's cgroup just now; an `rm` that came earlier found
            # the parent still holding it, so try the parent again
            cgroups.remove_empty_parent(self._cgroup_parent(c))

    # -- stop, kill, restart, remove -------------------------------------------------------
    def _signal(self, c: Container, sig: str) -> None:
        from dockyard.runtime.shim import protocol
        sd = str(self.shim_dir(c.id))
        protocol.control(sd, "stop")
        protocol.kill(sd, sig)

    def stop(self, ref: str, timeout: int | None = None) -> Container:
        c = self.get(ref)
        if not c.running:
            return c
        if c.status == "paused":
            self.unpause(c.id)
        if timeout is None:
            timeout = c.config.get("StopTimeout", STOP_TIMEOUT)
        sig = c.config.get("StopSignal") or "SIGTERM"
        try:
            self._signal(c, sig)
        except DockyardError:
            pass
        if not self._wait_done(c, timeout):
            try:
                self._signal(c, "SIGKILL")
            except DockyardError:
                pass
            self._wait_done(c, 10)
        c = self.get(c.id)
        self.event(c, "stop")
        return c

    def _wait_done(self, c: Container, timeout: float) -> bool:
        """Wait until the shim has recorded the exit (and gone); True if it happened in time."""
        from dockyard.runtime.shim import protocol
        sd = str(self.shim_dir(c.id))
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            if protocol.read_exit(sd) is not None or not protocol.shim_alive(sd):
                while protocol.shim_alive(sd) and time.monotonic() < deadline + 5:
                    time.sleep(0.01)
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def kill(self, ref: str, signal: str = "KILL") -> Container:
        sig = signal if str(signal).isdigit() or str(signal).startswith("SIG") else "SIG" + str(signal).upper()
        if (str(sig).isdigit() and int(sig) == 0) or (not str(sig).isdigit() and sig not in _signal.Signals.__members__):
            raise InvalidArgument(f"Invalid signal: {signal}")  # before the container, as dockerd checks
        try:
            c = self.get(ref)
        except NotFound as e:  # dockerd names the kill in every failure
            raise NotFound(f"Cannot kill container: {ref}: {e.message}") from None
        if not c.running:
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        self._signal(c, sig)
        if sig in ("SIGKILL", "9"):
            self._wait_done(c, 10)
        self.event(c, "kill", signal=str(sig if sig.isdigit() else _signal.Signals[sig].value))
        return self.get(c.id)

    def restart(self, ref: str, timeout: int | None = None) -> Container:
        self.stop(ref, timeout)
        self.start(ref)
        c = self.get(ref)
        self.event(c, "restart")
        return c

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.running:
            if not force:
                raise Conflict(f'cannot remove container "/{c.name}": container is {c.status}: '
                               "stop the container before removing or force remove")
            if c.status == "paused":
                self.unpause(c.id)
            try:
                self._signal(c, "SIGKILL")
            except DockyardError:
                pass
            self._wait_done(c, 10)
            c = self.get(c.id)
            if c.running:  # the shim did not answer: end it ourselves
                c = self.finalize(c, {"exit_code": 137, "error": "removed by force"})
                self._kill_orphan(c)
        self._release(c)
        self.store.delete(c.id)
        self._remove_rootfs(c.id)
        if volumes:
            self._remove_anonymous_volumes(c)
        shutil.rmtree(self.dir(c.id), ignore_errors=True)
        shutil.rmtree(self.run_dir(c.id), ignore_errors=True)
        shutil.rmtree(self.shim_dir(c.id), ignore_errors=True)
        cgroups.remove_empty_parent(self._cgroup_parent(c))
        self.event(c, "destroy")

    def wait(self, ref: str, condition: str = "not-running", timeout: float | None = None) -> int:
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}: use not-running, next-exit or removed")
        c = self.get(ref)
        since = time.time()
        exits = _exits(c)
        deadline = None if timeout is None else time.monotonic() + timeout
        watch = self.watch()  # woken by the shim's records, its exit, or the container's removal
        try:
            while True:
                watch.follow(self.dir(c.id), shim=False)
                watch.follow(self.shim_dir(c.id))
                found = self.store.find(c.id)
                if found is None:
                    # removed: its exit code is in the die event
                    dies = [e for e in self.engine.events.read(after_seq=0)
                            if e["Actor"]["ID"] == c.id and e["Action"] == "die"]
                    return int(dies[-1]["Actor"]["Attributes"].get("exitCode", 0)) if dies else c.state["ExitCode"]
                c = self.refresh(found)
                if not c.running and condition != "removed":
                    ended_now = epoch(c.state["FinishedAt"]) >= since - 0.001
                    if condition == "not-running" or ended_now:
                        return c.state["ExitCode"]
                elif condition != "removed" and _exits(c) > exits:  # the restart policy runs it again:
                    if c.status == "restarting":                    # Docker's waiters return at that exit
                        return c.state["ExitCode"]
                    from dockyard.runtime.shim import protocol
                    return int((protocol.read_started(str(self.shim_dir(c.id))) or {}).get("last_exit_code", 0))
                if deadline is not None and time.monotonic() > deadline:
                    raise DockyardError(f"timed out waiting for container {c.short_id}")
                # a second at most: a change only the DB shows (another process's restart) is seen too
                watch.wait(1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic())))
        finally:
            watch.close()

    def pause(self, ref: str) -> None:
        self._set_paused(ref, True)

    def unpause(self, ref: str) -> None:
        self._set_paused(ref, False)

    def _set_paused(self, ref: str, paused: bool) -> None:
        """Freeze or thaw every process of the container through its runtime (the freezer cgroup)."""
        c = self.get(ref)
        if paused and c.status == "paused":
            raise Conflict(f"Container {c.id} is already paused")
        if c.status != ("running" if paused else "paused"):
            raise Conflict(f"Container {c.id} is not {'running' if paused else 'paused'}")
        runtime = self._runtime(c)
        (runtime.pause if paused else runtime.resume)(c.id)
        c.state.update(Status="paused" if paused else "running", Paused=paused)
        self.store.save(c, "state")
        self.event(c, "pause" if paused else "unpause")

    def _volumes_source(self, ref: str) -> Container:
        """The container --volumes-from names: missing, a mistake in the request (400, so the
        docker CLI does not take it for a missing image and pull)."""
        try:
            return self.get(ref)
        except NotFound as e:
            raise InvalidArgument(e.message) from None

    def _runtime(self, c: Container):
        from dockyard.runtime.oci import get_runtime
        runtime = c.host_config.get("Runtime") or "dockyard"
        return get_runtime("dockyard" if _builtin(runtime) else runtime, str(self.runtime_root(runtime)))

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

    def prune(self, filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
        from dockyard.containers.filters import matches
        removed, freed = [], 0
        for c in self.list(all=True):
            if c.running or (filters and not matches(self, c, filters, prune=True)):
                continue
            if self.engine.snapshots.exists(c.id):
                freed += self.engine.snapshots.usage(c.id)
            self.remove(c.id)
            removed.append(c.id)
        return removed, freed

    def attach_socket(self, ref: str) -> str:
        c = self.get(ref)
        if not c.running:
            raise Conflict("You cannot attach to a stopped container, start it first")
        self.event(c, "attach")
        return str(self.shim_dir(c.id) / "attach.sock")

    def resize(self, ref: str, h: int, w: int) -> None:
        from dockyard.runtime.shim import protocol
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.config.get("Tty"):  # without a terminal there is nothing to size: dockerd says nothing either
            protocol.resize(str(self.shim_dir(c.id)), h, w)
        self.event(c, "resize", height=str(h), width=str(w))

    def logs(self, ref: str, *, stdout: bool = True, stderr: bool = True, since: float = 0.0, until: float = 0.0,
             timestamps: bool = False, tail: str = "all", follow: bool = False):
        """Entries of the json-file log: (stream, time, data); `follow` ends when the container does."""
        from dockyard.containers import logs
        c = self.get(ref)
        if not keeps_log(c.host_config):
            raise ReadingUnsupported()
        def running() -> bool:
            try:
                return self.get(c.id).running
            except NotFound:  # removed (docker-py's run(remove=True) does so at the exit)
                return False
        return logs.read(self.log_path(c), stdout=stdout, stderr=stderr, since=since, until=until, tail=str(tail),
                         follow=follow, running=running)

    def top(self, ref: str, ps_args: str = "") -> dict:
        """`docker top`: the host's `ps` output, only the lines of the container's processes."""
        c = self.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        table = top_table(self.pids(c), ps_args)
        self.event(c, "top")
        return table

    # -- views and files -------------------------------------------------------------------
    def inspect(self, ref: str) -> dict:
        from dockyard.containers.views import inspect
        return inspect(self, self.get(ref))

    def summary(self, c: Container) -> dict:
        from dockyard.containers.views import summary
        return summary(self, c)

    def changes(self, ref: str) -> list[dict]:
        from dockyard.containers import files
        return files.changes(self, ref)

    def export(self, ref: str):
        """The container's filesystem as a tar stream (read it to the end, or close it)."""
        from dockyard.containers import files
        self.event(self.get(ref), "export")
        return files.produced(lambda out: files.export(self, ref, out))

    def archive_get(self, ref: str, path: str):
        """(stat of `path`, tar stream of it), for `cp` out of the container."""
        from dockyard.containers import files
        st = self.archive_stat(ref, path)
        self.event(self.get(ref), "archive-path", path=path)
        return st, files.produced(lambda out: files.archive_get(self, ref, path, out))

    def archive_stat(self, ref: str, path: str) -> dict:
        from dockyard.containers import files
        with files.container_root(self, self.get(ref)) as root:
            return files.path_stat(root, path, ref)

    def archive_put(self, ref: str, path: str, data, *, no_overwrite: bool = False) -> None:
        from dockyard.containers import files
        files.archive_put(self, ref, path, data)
        self.event(self.get(ref), "extract-to-dir", path=path)

    def commit(self, ref: str, **kw) -> str:
        from dockyard.containers import files
        return files.commit(self, ref, **kw)

    def stats(self, ref: str) -> dict:
        from dockyard.containers.stats import sample
        return sample(self, self.get(ref))

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

    def exec_resize(self, exec_id: str, h: int, w: int) -> None:
        self.execs.resize(exec_id, h, w)

    # -- networks of a running container ---------------------------------------------------
    def connect(self, ref: str, network: str, endpoint: dict | None = None) -> None:
        """Join `network` now (running) or at the next start; `endpoint`: Docker's EndpointSettings."""
        c = self.get(ref)
        req = network_endpoints.EndpointRequest.from_settings(network, endpoint)
        name = self.engine.networks.inspect(network)["Name"]
        networks = c.network_settings.setdefault("Networks", {})
        if c.running:
            c.network_settings["Networks"] = self.engine.networks.connect(c.id, name, req).networks
        elif name in networks:
            raise Forbidden(f"endpoint with name {c.name} already exists in network {name}")
        else:
            networks[name] = network_endpoints.asked(name, endpoint)
        self._endpoints_config(c)[name] = endpoint or {}
        self.store.save(c, "network_settings")
        if c.running:
            self.engine.events.emit("network", "connect", network, container=c.id)

    def disconnect(self, ref: str, network: str, force: bool = False) -> None:
        """Leave `network` now (running) and for later starts. `force`: as Docker's, no error
        when a stopped container is not on it."""
        c = self.get(ref)
        name = self.engine.networks.inspect(network)["Name"]
        networks = c.network_settings.setdefault("Networks", {})
        if c.running:
            c.network_settings["Networks"] = self.engine.networks.disconnect(c.id, name).networks
        elif name not in networks and not force:
            raise NotFound(f"container {c.id[:12]} is not connected to network {name}")
        else:
            networks.pop(name, None)
        self._endpoints_config(c).pop(name, None)
        self.store.save(c, "network_settings")
        if c.running:
            self.engine.events.emit("network", "disconnect", network, container=c.id)

    def _endpoints_config(self, c: Container) -> dict:
        return c.network_settings.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})

    # -- exec ------------------------------------------------------------------------------
    @property
    def execs(self):
        from dockyard.containers.execs import Execs
        if not hasattr(self, "_execs"):
            self._execs = Execs(self)
        return self._execs

    def exec_create(self, ref: str, body: dict) -> str:
        return self.execs.create(ref, body)

    def exec_start(self, exec_id: str, **kw) -> int:
        return self.execs.start(exec_id, **kw)

    def exec_inspect(self, exec_id: str) -> dict:
        return self.execs.inspect(exec_id)

    def reconcile(self) -> None:
        """Compare the records with the kernel: dead shims get their containers ended, and
        network state of containers that no longer exist is dropped."""
        live = set()
        for c in self.store.all():
            c = self.refresh(c)
            if c.running:
                live.add(c.id)
        self.engine.networks.reconcile(live, in_use=self.in_use)

    def in_use(self, cid: str) -> bool:
        """Whether the container runs now, or a start or release of it is under way in some
        process (its lifecycle lock is held), or it is a build step's that runs: what a
        reconcile that listed the running containers earlier asks before it releases a network."""
        if cid.startswith("build-"):
            from dockyard.builder.unfinished import in_progress
            return in_progress(self.engine.root, cid)
        row = self.engine.db.one("SELECT state FROM containers WHERE id=?", (cid,))
        if row and json.loads(row[0]).get("Status") in ("running", "paused", "restarting"):
            return True
        import fcntl
        try:
            fd = os.open(self.dir(cid) / "lifecycle.lock", os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def _exits(c: Container) -> int:
    """How many times the current run of a running container has ended (it may be restarting)."""
    return c.restart_count + (c.status == "restarting")


def init_key(cid: str) -> str:
    return f"init-{cid}"


def _device(spec: dict):
    from dockyard.runtime.spec import DeviceMapping
    return DeviceMapping(spec.get("PathOnHost", ""), spec.get("PathInContainer") or spec.get("PathOnHost", ""),
                         spec.get("CgroupPermissions") or "rwm")


def _builtin(runtime: str) -> bool:
    """dockyard's own runtime, which the engine can also drive in-process."""
    return runtime in ("dockyard", "runtime")


def _runtime_binary(name: str) -> str:
    if _builtin(name):
        path = os.path.join(os.path.dirname(sys.executable), "dockyard-runtime")
        if os.access(path, os.X_OK):
            return path
        name = "dockyard-runtime"
    found = shutil.which(name)
    if not found:
        raise NotFound(f"OCI runtime {name!r} not found in PATH")
    return found


def _dockyard_binary() -> str:
    path = os.path.join(os.path.dirname(sys.executable), "dockyard")
    return path if os.access(path, os.X_OK) else (shutil.which("dockyard") or "dockyard")


def _foreground_owner_alive(rd: Path) -> bool:
    """A `run` in the foreground (see hold_foreground) records the exit and honours --rm itself."""
    import fcntl
    try:
        with open(rd / FOREGROUND_LOCK) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
    except FileNotFoundError:
        pass
    return False


def _exit_code_for(e: BaseException) -> int:
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
    from dockyard.runtime.linux import secure_join
    path = Path(secure_join(str(rootfs), wd))
    if path.exists() and not path.is_dir():
        raise InvalidArgument(f"Cannot mkdir: {wd} is not a directory")
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
