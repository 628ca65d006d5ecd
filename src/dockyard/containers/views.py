"""Docker-shaped views of a container: `inspect` (ContainerJSON), the `ps` / API list item,
and the status text docker users read ("Up 3 minutes", "Exited (0) 2 seconds ago")."""

from __future__ import annotations

import os
import time

from dockyard.addresses import host_address
from dockyard.containers.logdrivers import keeps_log
from dockyard.containers.record import Container, rfc3339

ZERO = "0001-01-01T00:00:00Z"

# What `GET /containers/{id}/json` shows for a HostConfig field the create request left out:
# dockerd answers with every field of its struct, so clients index them without checking
HOST_CONFIG_SHOWN = {
    "AutoRemove": False, "Binds": None, "BlkioDeviceReadBps": None, "BlkioDeviceReadIOps": None,
    "BlkioDeviceWriteBps": None, "BlkioDeviceWriteIOps": None, "BlkioWeight": 0, "BlkioWeightDevice": None,
    "CapAdd": None, "CapDrop": None, "Cgroup": "", "CgroupParent": "", "CgroupnsMode": "private",
    "ConsoleSize": [0, 0], "ContainerIDFile": "", "CpuCount": 0, "CpuPercent": 0, "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpuShares": 0, "CpusetCpus": "", "CpusetMems": "",
    "DeviceCgroupRules": None, "DeviceRequests": None, "Devices": None, "Dns": None, "DnsOptions": None,
    "DnsSearch": None, "ExtraHosts": None, "GroupAdd": None, "IOMaximumBandwidth": 0, "IOMaximumIOps": 0,
    "IpcMode": "private", "Isolation": "", "KernelMemoryTCP": 0, "Links": None,
    "LogConfig": {"Type": "json-file", "Config": {}}, "Memory": 0, "MemoryReservation": 0, "MemorySwap": 0,
    "MemorySwappiness": None, "NanoCpus": 0, "NetworkMode": "bridge", "OomKillDisable": False, "OomScoreAdj": 0,
    "PidMode": "", "PidsLimit": None, "PortBindings": {}, "Privileged": False, "PublishAllPorts": False,
    "ReadonlyRootfs": False, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "SecurityOpt": None,
    "ShmSize": 64 << 20, "UTSMode": "", "Ulimits": None, "UsernsMode": "", "VolumeDriver": "", "VolumesFrom": None,
}


def host_config_shown(hc: dict) -> dict:
    """The container's HostConfig with every field dockerd shows: the defaults where the
    request was silent (a null or empty value counts as silent where dockerd fills one in)."""
    from dockyard.runtime.procpaths import MASKED_PATHS, READONLY_PATHS
    shown = {**HOST_CONFIG_SHOWN, **{k: v for k, v in hc.items() if v is not None or HOST_CONFIG_SHOWN.get(k) is None}}
    for key in ("IpcMode", "CgroupnsMode", "NetworkMode"):
        shown[key] = shown[key] or HOST_CONFIG_SHOWN[key]
    shown["ShmSize"] = shown["ShmSize"] or HOST_CONFIG_SHOWN["ShmSize"]
    # what the docker CLI sends for "not set" (-1, 0), shown as dockerd stores it: unset
    if shown["MemorySwappiness"] == -1:
        shown["MemorySwappiness"] = None
    if shown["PidsLimit"] is not None and shown["PidsLimit"] <= 0:
        shown["PidsLimit"] = None
    if not shown["Privileged"]:  # the paths every unprivileged container has masked and read-only
        for key, paths in (("MaskedPaths", MASKED_PATHS), ("ReadonlyPaths", READONLY_PATHS)):
            if shown.get(key) is None:  # absent, or null as the CLI sends it
                shown[key] = list(paths)
    return shown


def parse_time(value: str) -> float:
    """docker's time filter values: a unix time, an RFC3339 date, or a duration back from now (10m, 2h)."""
    import re
    from datetime import datetime

    from dockyard.errors import InvalidArgument
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value)
    if m:
        mult = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return time.time() - float(m.group(1)) * mult
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidArgument(f"invalid time value {value!r}: use a unix time, RFC3339 or a duration like 10m") from None


def epoch(ts: str) -> float:
    """Seconds since 1970 of an RFC3339 time in UTC (what rfc3339() writes)."""
    if not ts or ts.startswith("0001-"):
        return 0.0
    main, _, frac = ts.rstrip("Z").partition(".")
    return _utc_seconds(main) + (float("0." + frac) if frac else 0.0)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _utc_seconds(text: str) -> int:
    """`YYYY-MM-DDTHH:MM:SS` in UTC as seconds since 1970, computed here: `datetime` is a 1 ms
    import for every `ps` that shows a running container. Other shapes go to datetime."""
    if len(text) != 19 or text[4] != "-" or text[7] != "-" or text[10] != "T" or text[13] != ":" or text[16] != ":" \
            or not (text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:]).isdigit() \
            or not text.isascii():
        from datetime import datetime
        return int(datetime.fromisoformat(text + "+00:00").timestamp())
    y, m, d = int(text[:4]), int(text[5:7]), int(text[8:10])
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not (y >= 1 and 1 <= m <= 12 and 1 <= d <= (29 if leap and m == 2 else _MONTH_DAYS[m - 1])) \
            or int(text[11:13]) > 23 or int(text[14:16]) > 59 or int(text[17:]) > 59:
        raise ValueError(f"invalid date {text!r}")
    # days since 1970-01-01 of a proleptic Gregorian date (years counted from March)
    y -= m <= 2
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    return days * 86400 + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:])


def command(c: Container) -> tuple[str, list[str]]:
    args = [*(c.config.get("Entrypoint") or []), *(c.config.get("Cmd") or [])]
    return (args[0], args[1:]) if args else ("", [])


def status_text(c: Container, now: float | None = None) -> str:
    """"Up 5 seconds", "Exited (0) 2 minutes ago": the status as it reads at `now` (the clock's time if None)."""
    from dockyard.cli.formatting import human_duration
    st = c.state
    now = time.time() if now is None else now
    if st["Status"] in ("running", "paused"):
        text = "Up " + human_duration(now - epoch(st["StartedAt"]))
        if st["Status"] == "paused":
            return text + " (Paused)"
        from dockyard.containers import health
        return text + health.suffix(st)
    if st["Status"] == "restarting":
        return f"Restarting ({st['ExitCode']}) {human_duration(now - epoch(st['FinishedAt']))} ago"
    if st["Status"] == "exited":
        if epoch(st["FinishedAt"]) == 0:
            return f"Exited ({st['ExitCode']})"
        return f"Exited ({st['ExitCode']}) {human_duration(now - epoch(st['FinishedAt']))} ago"
    return st["Status"].capitalize()


def settled(c: Container, shim_dir: str) -> bool:
    """Whether a running container's record already says what its shim recorded (its health
    status is brought in here): True needs no write, False leaves it to the service's refresh
    (an exit, a restart, a dead shim to record)."""
    from dockyard.runtime.shim.records import read_exit, read_started, running_run, shim_alive

    if c.status == "restarting":  # its next run's start is the refresh's to record
        return False
    if running_run(shim_dir) != c.restart_count:  # else the shim's lock says what the files would
        if not shim_alive(shim_dir) or read_exit(shim_dir) is not None:
            return False
        if (read_started(shim_dir) or {}).get("restart_count", 0) != c.restart_count:
            return False
    if "Health" in c.state:
        from pathlib import Path

        from dockyard.containers import health
        c.state["Health"] = health.live(c.state, Path(shim_dir))
    return True


def status_stable_until(c: Container, now: float) -> float:
    """A time before which status_text(c) reads as it does at `now` ("Up 5 seconds" holds a
    second, "Up 3 minutes" a minute; "Created" for ever): how long a copy of it stays true."""
    st = c.state
    if st["Status"] in ("running", "paused"):
        since = epoch(st["StartedAt"])
    elif st["Status"] in ("restarting", "exited"):
        since = epoch(st["FinishedAt"])
        if since == 0:
            return float("inf")
    else:
        return float("inf")
    step = 1.0 if now - since < 60 else 60.0
    return since + ((now - since) // step + 1) * step


def ports_list(c: Container) -> list[dict]:
    out = []
    for key, bindings in (c.network_settings.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        if not bindings:
            out.append({"PrivatePort": int(port), "Type": proto})
        for b in bindings or []:
            out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                        "PublicPort": int(b["HostPort"]), "Type": proto})
    for key in (c.config.get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        if key not in (c.network_settings.get("Ports") or {}):
            out.append({"PrivatePort": int(port.split("-")[0]), "Type": proto})
    return out


def port_lines(c: Container, port: str | None) -> list[str] | None:
    """What `port C [PORT]` prints; None when PORT is not published."""
    ports = c.network_settings.get("Ports") or {}
    want = None
    if port:
        want = port if "/" in port else port + "/tcp"
        if not ports.get(want):
            return None
    lines = []
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0].split("-")[0]), k)):
        if want and key != want:
            continue
        for b in ports[key] or []:
            addr = host_address(b.get("HostIp") or "0.0.0.0", b["HostPort"])
            lines.append(addr if want else f"{key} -> {addr}")
    return lines


def ports_text(c: Container) -> str:
    parts = []
    for p in ports_list(c):
        if "PublicPort" in p:
            parts.append(f"{host_address(p['IP'], p['PublicPort'])}->{p['PrivatePort']}/{p['Type']}")
        else:
            parts.append(f"{p['PrivatePort']}/{p['Type']}")
    return ", ".join(parts)


def summary(service, c: Container) -> dict:
    """The item `GET /containers/json` returns, which `ps` renders."""
    path, args = command(c)
    return {
        "Id": c.id, "Names": ["/" + c.name], "Image": c.image_ref, "ImageID": c.image_id,
        "Command": " ".join([path, *(f"'{a}'" if " " in a else a for a in args)]) if path else "",
        "Created": int(c.created),
        "Ports": ports_list(c), "Labels": c.config.get("Labels") or {}, "State": c.status,
        "Status": status_text(c), "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode", "bridge")},
        "NetworkSettings": {"Networks": c.network_settings.get("Networks") or {}},
        "Mounts": c.mounts,
    }


def sizes(service, c: Container) -> dict:
    """SizeRw (what the container wrote) and SizeRootFs (all its files: that and its image's),
    which `size=1` adds to a container's summary or inspection."""
    snaps = service.engine.snapshots
    rw = snaps.usage(c.id) if snaps.exists(c.id) else 0
    image = service.images.find(c.image_id)
    return {"SizeRw": rw, "SizeRootFs": rw + (image.size if image else 0)}


def inspect(service, c: Container) -> dict:
    """ContainerJSON; `service` gives the container's places (ContainerPaths: dir, run_dir,
    log_path, graph), as Paths or as strings (the early path's RecordedPaths)."""
    path, args = command(c)
    d = service.dir(c.id)
    driver, own = service.graph(c)
    graph = {}
    if own is not None:
        graph = {"UpperDir": os.path.join(own, "fs"), "WorkDir": os.path.join(own, "work"),
                 "MergedDir": os.path.join(service.run_dir(c.id), "rootfs")}
    ns = c.network_settings
    bridge = (ns.get("Networks") or {}).get("bridge") or {}
    return {
        "Id": c.id, "Created": rfc3339(c.created), "Path": path, "Args": args,
        "State": {**c.state, "Dead": c.state.get("Dead", False)},
        "Image": c.image_id, "ResolvConfPath": os.path.join(d, "resolv.conf"),
        "HostnamePath": os.path.join(d, "hostname"), "HostsPath": os.path.join(d, "hosts"),
        "LogPath": os.fspath(service.log_path(c)) if keeps_log(c.host_config) else "", "Name": "/" + c.name,
        "RestartCount": c.restart_count, "Driver": driver, "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": {**host_config_shown(c.host_config), "Runtime": c.host_config.get("Runtime") or "dockyard"},
        "GraphDriver": {"Data": graph, "Name": driver},
        "Mounts": c.mounts, "Config": c.config,
        "NetworkSettings": {
            "Bridge": "", "SandboxID": c.id if ns.get("SandboxKey") else "", "SandboxKey": ns.get("SandboxKey", ""),
            "Ports": ns.get("Ports") or {}, "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            # the default bridge's endpoint, as moby shows it up to API 1.51 (empty on other networks)
            **{k: bridge.get(k, "" if k not in ("IPPrefixLen", "GlobalIPv6PrefixLen") else 0)
               for k in ("EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress",
                         "IPPrefixLen", "IPv6Gateway", "MacAddress")},
            "Networks": ns.get("Networks") or {},
        },
    }


def event_attributes(c: Container, **extra: str) -> dict:
    """A container event's attributes as dockerd gives them: its labels, its image and name,
    then the action's own."""
    return {**(c.config.get("Labels") or {}), "image": c.image_ref, "name": c.name, **extra}


def top_table(pids: list[int], ps_args: str = "") -> dict:
    """`docker top` of the processes `pids`: the host's `ps` output, only their lines. With no
    ps options, those lines are read from /proc where that gives the same (psef.py)."""
    if not ps_args:
        from dockyard.containers import psef

        rows = psef.rows(pids)
        if rows is not None:
            return {"Titles": list(psef.TITLES), "Processes": rows}
    import shlex
    import subprocess

    from dockyard.errors import InvalidArgument

    wanted = set(pids)
    args = shlex.split(ps_args) if ps_args else ["-ef"]
    r = subprocess.run(["ps", *args], capture_output=True, text=True)
    if r.returncode:
        why = r.stderr.strip().splitlines() or [f"exit status {r.returncode}"]
        raise InvalidArgument(f"ps: {why[0]}")  # its first line, as dockerd gives it (the rest is usage)
    lines = r.stdout.splitlines()
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    col = titles.index("PID")
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            procs.append(fields)
    return {"Titles": titles, "Processes": procs}


def quoted_command(c: Container, trunc: bool = True) -> str:
    path, args = command(c)
    cmd = " ".join([path, *args])
    if trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return f'"{cmd}"'



