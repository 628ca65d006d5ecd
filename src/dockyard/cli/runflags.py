"""The flags of `run` and `create`, declared once, and their translation into a docker
create request (Config + HostConfig + NetworkingConfig), the same body the Engine API takes."""

from __future__ import annotations



import click

from dockyard.cli.envlist import env_list
from dockyard.errors import InvalidArgument


def _opt(*names, **kw):
    return click.option(*names, **kw)


RUN_OPTIONS = [
    _opt("--name", help="Assign a name to the container."),
    _opt("--interactive", "-i", is_flag=True, help="Keep STDIN open even if not attached."),
    _opt("--tty", "-t", is_flag=True, help="Allocate a pseudo-TTY."),
    _opt("--env", "-e", multiple=True, help="Set environment variables."),
    _opt("--env-file", multiple=True, type=click.Path(dir_okay=False), help="Read in a file of environment variables."),
    _opt("--workdir", "-w", help="Working directory inside the container."),
    _opt("--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>])."),
    _opt("--entrypoint", help="Overwrite the default ENTRYPOINT of the image."),
    _opt("--hostname", "-h", help="Container host name."),
    _opt("--domainname", help="Container NIS domain name."),
    _opt("--label", "-l", multiple=True, help="Set meta data on a container."),
    _opt("--volume", "-v", multiple=True, help="Bind mount a volume."),
    _opt("--mount", "mounts", multiple=True, help="Attach a filesystem mount to the container."),
    _opt("--tmpfs", multiple=True, help="Mount a tmpfs directory."),
    _opt("--volumes-from", multiple=True, help="Mount volumes from the specified container(s)."),
    _opt("--link", multiple=True, help="Add link to another container (NAME[:ALIAS])."),
    _opt("--volume-driver", help="Optional volume driver for the container."),
    _opt("--read-only", is_flag=True, help="Mount the container's root filesystem as read only."),
    _opt("--init", is_flag=True, help="Run an init inside the container that forwards signals and reaps processes."),
    _opt("--restart", default="no", help="Restart policy to apply when a container exits."),
    _opt("--stop-signal", help="Signal to stop the container."),
    _opt("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container."),
    _opt("--memory", "-m", help="Memory limit."),
    _opt("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap."),
    _opt("--memory-reservation", help="Memory soft limit."),
    _opt("--cpus", help="Number of CPUs."),
    _opt("--cpu-shares", "-c", type=int, help="CPU shares (relative weight)."),
    _opt("--cpu-quota", type=int, help="Limit CPU CFS quota."),
    _opt("--cpu-period", type=int, help="Limit CPU CFS period."),
    _opt("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
    _opt("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)."),
    _opt("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)."),
    _opt("--ulimit", multiple=True, help="Ulimit options."),
    _opt("--cap-add", multiple=True, help="Add Linux capabilities."),
    _opt("--cap-drop", multiple=True, help="Drop Linux capabilities."),
    _opt("--privileged", is_flag=True, help="Give extended privileges to this container."),
    _opt("--security-opt", multiple=True, help="Security Options."),
    _opt("--device", multiple=True, help="Add a host device to the container."),
    _opt("--device-cgroup-rule", multiple=True, help="Add a rule to the cgroup allowed devices list."),
    _opt("--shm-size", help="Size of /dev/shm."),
    _opt("--cidfile", type=click.Path(dir_okay=False), help="Write the container ID to the file."),
    _opt("--pull", type=click.Choice(["always", "missing", "never"]), default="missing",
         help="Pull image before running."),
    _opt("--publish", "-p", multiple=True, help="Publish a container's port(s) to the host."),
    _opt("--publish-all", "-P", is_flag=True, help="Publish all exposed ports to random ports."),
    _opt("--expose", multiple=True, help="Expose a port or a range of ports."),
    _opt("--network", "--net", default="", help="Connect a container to a network."),
    _opt("--network-alias", multiple=True, help="Add network-scoped alias for the container."),
    _opt("--ip", help="IPv4 address (e.g., 172.30.100.104)."),
    _opt("--mac-address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)."),
    _opt("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)."),
    _opt("--dns", multiple=True, help="Set custom DNS servers."),
    _opt("--dns-search", multiple=True, help="Set custom DNS search domains."),
    _opt("--dns-option", multiple=True, help="Set DNS options."),
    _opt("--log-driver", default="json-file", help="Logging driver for the container."),
    _opt("--log-opt", multiple=True, help="Log driver options."),
    _opt("--runtime", help="Runtime to use for this container: dockyard (default), runc or crun."),
    _opt("--group-add", multiple=True, help="Add additional groups to join."),
    _opt("--oom-score-adj", type=int, help="Tune host's OOM preferences (-1000 to 1000)."),
    _opt("--sysctl", multiple=True, help="Sysctl options."),
    _opt("--pid", help="PID namespace to use."),
    _opt("--ipc", help="IPC mode to use."),
    _opt("--uts", help="UTS namespace to use."),
    _opt("--platform", help="Set platform if server is multi-platform capable."),
    _opt("--health-cmd", help="Command to run to check health."),
    _opt("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)."),
    _opt("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)."),
    _opt("--health-retries", type=int, default=0, help="Consecutive failures needed to report unhealthy."),
    _opt("--health-start-period", help="Start period for the container to initialize before starting "
         "health-retries countdown (ms|s|m|h) (default 0s)."),
    _opt("--health-start-interval", help="Time between running the check during the start period (ms|s|m|h) "
         "(default 0s)."),
    _opt("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK."),
]


def run_options(f):
    for opt in reversed(RUN_OPTIONS):
        f = opt(f)
    return f


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



