"""The flags of `run` and `create`, declared once, and their translation into a docker
create request (Config + HostConfig + NetworkingConfig), the same body the Engine API takes.

The table is plain data: click's options are made from it (`options`) and so is the parser
of `run`'s early path (runfast.py), which must not load click."""

from __future__ import annotations

from dockyard.errors import InvalidArgument

VALUE, SWITCH, INT, PATH = "value", "switch", "int", "path"  # PATH: a file, never a directory


class Flag:
    """One option: its names (a bare word among them is the parameter's name, as click
    takes it), its kind, default, choices, whether it may be repeated (`many`), and for a
    switch the name that turns it off (`off`)."""

    __slots__ = ("names", "dest", "kind", "default", "choices", "many", "off", "help")

    def __init__(self, *names: str, kind: str = VALUE, default=None, choices: tuple[str, ...] = (),
                 many: bool = False, off: str = "", help: str = "") -> None:
        self.names = tuple(n for n in names if n.startswith("-"))
        bare = [n for n in names if not n.startswith("-")]
        self.dest = bare[0] if bare else self.names[0].lstrip("-").replace("-", "_")
        self.kind, self.choices, self.many, self.off, self.help = kind, choices, many, off, help
        self.default = () if many else (False if kind == SWITCH and default is None else default)

    def option(self):
        """This flag as a click option."""
        import click

        kw: dict = {"help": self.help}
        decls = [f"{self.names[0]}/{self.off}" if self.off else self.names[0], *self.names[1:], self.dest]
        if self.kind == SWITCH and not self.off:  # a pair (--x/--no-x) is a switch to click already
            kw["is_flag"] = True
        if self.default is not None and not self.many:
            kw["default"] = self.default
        if self.many:
            kw["multiple"] = True
        if self.kind == INT:
            kw["type"] = int
        elif self.kind == PATH:
            kw["type"] = click.Path(dir_okay=False)
        elif self.choices:
            kw["type"] = click.Choice(list(self.choices))
        return click.option(*decls, **kw)


def options(flags: list[Flag]):
    """A decorator adding `flags` to a click command, in the table's order."""
    def add(f):
        for flag in reversed(flags):
            f = flag.option()(f)
        return f
    return add


RUN_FLAGS = [
    Flag("--name", help="Assign a name to the container."),
    Flag("--interactive", "-i", kind=SWITCH, help="Keep STDIN open even if not attached."),
    Flag("--tty", "-t", kind=SWITCH, help="Allocate a pseudo-TTY."),
    Flag("--env", "-e", many=True, help="Set environment variables."),
    Flag("--env-file", many=True, kind=PATH, help="Read in a file of environment variables."),
    Flag("--workdir", "-w", help="Working directory inside the container."),
    Flag("--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>])."),
    Flag("--entrypoint", help="Overwrite the default ENTRYPOINT of the image."),
    Flag("--hostname", "-h", help="Container host name."),
    Flag("--domainname", help="Container NIS domain name."),
    Flag("--label", "-l", many=True, help="Set meta data on a container."),
    Flag("--volume", "-v", many=True, help="Bind mount a volume."),
    Flag("--mount", "mounts", many=True, help="Attach a filesystem mount to the container."),
    Flag("--tmpfs", many=True, help="Mount a tmpfs directory."),
    Flag("--volumes-from", many=True, help="Mount volumes from the specified container(s)."),
    Flag("--link", many=True, help="Add link to another container (NAME[:ALIAS])."),
    Flag("--volume-driver", help="Optional volume driver for the container."),
    Flag("--read-only", kind=SWITCH, help="Mount the container's root filesystem as read only."),
    Flag("--init", kind=SWITCH, help="Run an init inside the container that forwards signals and reaps processes."),
    Flag("--restart", default="no", help="Restart policy to apply when a container exits."),
    Flag("--stop-signal", help="Signal to stop the container."),
    Flag("--stop-timeout", kind=INT, help="Timeout (in seconds) to stop a container."),
    Flag("--memory", "-m", help="Memory limit."),
    Flag("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap."),
    Flag("--memory-reservation", help="Memory soft limit."),
    Flag("--cpus", help="Number of CPUs."),
    Flag("--cpu-shares", "-c", kind=INT, help="CPU shares (relative weight)."),
    Flag("--cpu-quota", kind=INT, help="Limit CPU CFS quota."),
    Flag("--cpu-period", kind=INT, help="Limit CPU CFS period."),
    Flag("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
    Flag("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)."),
    Flag("--pids-limit", kind=INT, help="Tune container pids limit (set -1 for unlimited)."),
    Flag("--ulimit", many=True, help="Ulimit options."),
    Flag("--cap-add", many=True, help="Add Linux capabilities."),
    Flag("--cap-drop", many=True, help="Drop Linux capabilities."),
    Flag("--privileged", kind=SWITCH, help="Give extended privileges to this container."),
    Flag("--security-opt", many=True, help="Security Options."),
    Flag("--device", many=True, help="Add a host device to the container."),
    Flag("--device-cgroup-rule", many=True, help="Add a rule to the cgroup allowed devices list."),
    Flag("--shm-size", help="Size of /dev/shm."),
    Flag("--cidfile", kind=PATH, help="Write the container ID to the file."),
    Flag("--pull", choices=("always", "missing", "never"), default="missing",
         help="Pull image before running."),
    Flag("--publish", "-p", many=True, help="Publish a container's port(s) to the host."),
    Flag("--publish-all", "-P", kind=SWITCH, help="Publish all exposed ports to random ports."),
    Flag("--expose", many=True, help="Expose a port or a range of ports."),
    Flag("--network", "--net", default="", help="Connect a container to a network."),
    Flag("--network-alias", many=True, help="Add network-scoped alias for the container."),
    Flag("--ip", help="IPv4 address (e.g., 172.30.100.104)."),
    Flag("--mac-address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)."),
    Flag("--add-host", many=True, help="Add a custom host-to-IP mapping (host:ip)."),
    Flag("--dns", many=True, help="Set custom DNS servers."),
    Flag("--dns-search", many=True, help="Set custom DNS search domains."),
    Flag("--dns-option", many=True, help="Set DNS options."),
    Flag("--log-driver", default="json-file", help="Logging driver for the container."),
    Flag("--log-opt", many=True, help="Log driver options."),
    Flag("--runtime", help="Runtime to use for this container: dockyard (default), runc or crun."),
    Flag("--group-add", many=True, help="Add additional groups to join."),
    Flag("--oom-score-adj", kind=INT, help="Tune host's OOM preferences (-1000 to 1000)."),
    Flag("--sysctl", many=True, help="Sysctl options."),
    Flag("--pid", help="PID namespace to use."),
    Flag("--ipc", help="IPC mode to use."),
    Flag("--uts", help="UTS namespace to use."),
    Flag("--platform", help="Set platform if server is multi-platform capable."),
    Flag("--health-cmd", help="Command to run to check health."),
    Flag("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)."),
    Flag("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)."),
    Flag("--health-retries", kind=INT, default=0, help="Consecutive failures needed to report unhealthy."),
    Flag("--health-start-period", help="Start period for the container to initialize before starting "
         "health-retries countdown (ms|s|m|h) (default 0s)."),
    Flag("--health-start-interval", help="Time between running the check during the start period (ms|s|m|h) "
         "(default 0s)."),
    Flag("--no-healthcheck", kind=SWITCH, help="Disable any container-specified HEALTHCHECK."),
]
#: what `run` takes besides the flags of `create`
RUN_ONLY_FLAGS = [
    Flag("--detach", "-d", kind=SWITCH, help="Run container in background and print container ID."),
    Flag("--rm", kind=SWITCH, help="Automatically remove the container when it exits."),
    Flag("--attach", "-a", many=True, help="Attach to STDIN, STDOUT or STDERR."),
    Flag("--sig-proxy", kind=SWITCH, default=True, off="--no-sig-proxy", help="Proxy received signals to the process."),
]


def env_list(values, files) -> list[str]:
    """`-e` and `--env-file` as docker reads them: NAME alone takes the caller's value."""
    import os
    out = []
    for path in files:
        try:
            text = open(path).read()
        except OSError as e:
            raise InvalidArgument(f"open {path}: {e.strerror.lower()}") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line if "=" in line else f"{line}={os.environ.get(line, '')}")
    for v in values:
        if "=" not in v:
            if v in os.environ:
                out.append(f"{v}={os.environ[v]}")
            continue
        out.append(v)
    return out


def _labels(values) -> dict[str, str]:
    out = {}
    for v in values:
        k, _, val = v.partition("=")
        out[k] = val
    return out


def _cpus(text: str) -> int:
    try:
        n = float(text)
    except ValueError:
        raise InvalidArgument(f"invalid argument {text!r} for \"--cpus\" flag: must be a number") from None
    if n < 0:
        raise InvalidArgument("range of CPUs is from 0.01 to the number of CPUs available")
    return int(n * 1e9)


def _ulimit(text: str) -> dict:
    name, _, val = text.partition("=")
    soft, _, hard = val.partition(":")
    try:
        return {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}
    except ValueError:
        raise InvalidArgument(f"invalid ulimit argument: {text}") from None


def _mount(text: str) -> dict:
    m: dict = {}
    for part in text.split(","):
        k, eq, v = part.partition("=")
        k = k.strip().lower()
        if k == "type":
            m["Type"] = v
        elif k in ("source", "src"):
            m["Source"] = v
        elif k in ("target", "destination", "dst"):
            m["Target"] = v
        elif k in ("readonly", "ro"):
            m["ReadOnly"] = (v or "true").lower() in ("1", "true")
        elif k == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = v
        elif k == "volume-nocopy":
            m.setdefault("VolumeOptions", {})["NoCopy"] = (v or "true").lower() in ("1", "true")
        elif k == "tmpfs-size":
            from dockyard.containers.request import parse_bytes
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_bytes(v)
        elif k == "tmpfs-mode":
            m.setdefault("TmpfsOptions", {})["Mode"] = int(v, 8)
        else:
            raise InvalidArgument(f"unexpected key '{k}' in '{part}'")
    if "Target" not in m:
        raise InvalidArgument("target is required")
    m.setdefault("Type", "volume")
    return m


def _device(text: str) -> dict:
    parts = text.split(":")
    host = parts[0]
    inside = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    perms = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
    return {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms}


def _restart(text: str) -> dict:
    name, _, count = text.partition(":")
    if count and not count.isdigit():
        raise InvalidArgument("invalid restart policy format: maximum retry count must be an integer")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def create_body(image: str, command: tuple[str, ...], o: dict) -> dict:
    """The Engine API ContainerCreate body for these flags."""
    from dockyard.containers.request import parse_bytes
    from dockyard.network.ports import parse_publish

    exposed = {}
    for e in o["expose"]:
        port, _, proto = e.partition("/")
        exposed[f"{port}/{proto or 'tcp'}"] = {}
    bindings: dict[str, list] = {}
    for spec in o["publish"]:
        for p in parse_publish(spec):
            key = f"{p.container_port}/{p.proto}"
            bindings.setdefault(key, []).append({"HostIp": p.host_ip, "HostPort": str(p.host_port) if p.host_port else ""})
            exposed.setdefault(key, {})
    log_cfg = {}
    for opt in o["log_opt"]:
        k, eq, v = opt.partition("=")
        if not eq:
            raise InvalidArgument(f"invalid key value pair format in log options: {opt}")
        log_cfg[k] = v
    tmpfs = {}
    for t in o["tmpfs"]:
        path, _, opts = t.partition(":")
        tmpfs[path] = opts
    sec = list(o["security_opt"])
    entrypoint = None
    if o["entrypoint"] is not None:
        entrypoint = [o["entrypoint"]] if o["entrypoint"] else []
    network = o["network"] or "bridge"
    endpoint = {}
    if o["ip"] or o["network_alias"] or o["mac_address"]:
        endpoint = {network: {"IPAMConfig": {"IPv4Address": o["ip"]} if o["ip"] else None,
                              "Aliases": list(o["network_alias"]), "MacAddress": o["mac_address"] or ""}}
    hc = {
        "Binds": list(o["volume"]), "Mounts": [_mount(m) for m in o["mounts"]], "Tmpfs": tmpfs,
        "VolumesFrom": list(o["volumes_from"]), "VolumeDriver": o["volume_driver"] or "", "Links": list(o["link"]),
        "NetworkMode": network, "PortBindings": bindings, "PublishAllPorts": o["publish_all"],
        "RestartPolicy": _restart(o["restart"]), "AutoRemove": o.get("rm", False),
        "Privileged": o["privileged"], "CapAdd": list(o["cap_add"]), "CapDrop": list(o["cap_drop"]),
        "SecurityOpt": sec, "ReadonlyRootfs": o["read_only"], "Devices": [_device(d) for d in o["device"]],
        "DeviceCgroupRules": list(o["device_cgroup_rule"]),
        "ShmSize": parse_bytes(o["shm_size"]) if o["shm_size"] else 0,
        "Memory": parse_bytes(o["memory"]) if o["memory"] else 0,
        "MemorySwap": (-1 if o["memory_swap"] == "-1" else parse_bytes(o["memory_swap"])) if o["memory_swap"] else 0,
        "MemoryReservation": parse_bytes(o["memory_reservation"]) if o["memory_reservation"] else 0,
        "NanoCpus": _cpus(o["cpus"]) if o["cpus"] else 0, "CpuShares": o["cpu_shares"] or 0,
        "CpuQuota": o["cpu_quota"] or 0, "CpuPeriod": o["cpu_period"] or 0,
        "CpusetCpus": o["cpuset_cpus"] or "", "CpusetMems": o["cpuset_mems"] or "",
        "PidsLimit": o["pids_limit"], "Ulimits": [_ulimit(u) for u in o["ulimit"]], "Init": o["init"] or None,
        "LogConfig": {"Type": o["log_driver"], "Config": log_cfg}, "Dns": list(o["dns"]),
        "DnsSearch": list(o["dns_search"]), "DnsOptions": list(o["dns_option"]), "ExtraHosts": list(o["add_host"]),
        "GroupAdd": list(o["group_add"]), "OomScoreAdj": o["oom_score_adj"] or 0, "Runtime": o["runtime"] or "",
        "Sysctls": dict(s.split("=", 1) for s in o["sysctl"]), "PidMode": o["pid"] or "",
        "IpcMode": o["ipc"] or "", "UTSMode": o["uts"] or "",
    }
    body = {
        "Image": image, "Cmd": list(command) or None, "Entrypoint": entrypoint,
        "Env": env_list(o["env"], o["env_file"]), "Tty": o["tty"], "OpenStdin": o["interactive"],
        "AttachStdin": o["interactive"], "StdinOnce": o["interactive"],
        "Labels": _labels(o["label"]), "WorkingDir": o["workdir"] or "", "User": o["user"] or "",
        "Hostname": o["hostname"] or "", "Domainname": o["domainname"] or "", "ExposedPorts": exposed,
        "HostConfig": hc, "NetworkingConfig": {"EndpointsConfig": endpoint},
    }
    if o["stop_signal"]:
        body["StopSignal"] = o["stop_signal"]
    if o["stop_timeout"] is not None:
        body["StopTimeout"] = o["stop_timeout"]
    healthcheck = _healthcheck(o)
    if healthcheck:
        body["Healthcheck"] = healthcheck
    return body


def _healthcheck(o: dict) -> dict | None:
    """docker's --health-* and --no-healthcheck, with its checks and messages."""
    from dockyard.oci.durations import parse_duration
    durations = {}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                      ("start_interval", "StartInterval")):
        text = o[f"health_{flag}"]
        name = "--health-" + flag.replace("_", "-")
        try:
            durations[key] = parse_duration(text) if text else 0
        except ValueError:
            raise InvalidArgument(f'invalid argument "{text}" for "{name}" flag: time: invalid duration "{text}"') from None
        if durations[key] < 0:
            raise InvalidArgument(f"{name} cannot be negative")
    if o["health_retries"] < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    given = bool(o["health_cmd"]) or o["health_retries"] != 0 or any(durations.values())
    if o["no_healthcheck"]:
        if given:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    return {"Test": ["CMD-SHELL", o["health_cmd"]] if o["health_cmd"] else [], **durations,
            "Retries": o["health_retries"]}



