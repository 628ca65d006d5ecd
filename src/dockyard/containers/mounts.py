"""Volumes, binds and tmpfs of a container: `-v`, `--mount`, `--tmpfs` and the image's VOLUMEs,
resolved to host paths the runtime can mount, with Docker's precedence and its `Mounts` view."""

from __future__ import annotations

import os
import posixpath

from dockyard.errors import InvalidArgument, NotFound
from dockyard.plainclass import plainclass
from dockyard.runtime.spec import Mount

_VALID_MODES = {"ro", "rw", "z", "Z", "rprivate", "private", "rshared", "shared", "rslave", "slave",
                "nocopy", "consistent", "cached", "delegated"}


@plainclass
class Planned:
    """One mount as the container will have it, plus what docker's inspect says of it."""

    mount: Mount
    kind: str              # bind | volume | tmpfs
    name: str = ""         # volume name
    anonymous: bool = False
    nocopy: bool = False
    mode: str = ""         # inspect's Mode: the -v spec's options as written ("z" for a named volume without)


def _check_target(target: str, what: str) -> str:
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid mount config for type \"{what}\": invalid mount path: '{target}' mount path must be absolute")
    if posixpath.normpath(target) == "/":
        raise InvalidArgument("invalid volume specification: destination can't be '/'")
    return posixpath.normpath(target)


def parse_bind(spec: str) -> tuple[str, str, str]:
    """`-v SRC:DST[:OPTS]` or `-v DST` as (SRC, DST, OPTS as written); SRC is an absolute host
    path or a volume name."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", _check_target(parts[0], "volume"), ""
    if len(parts) == 2:
        src, dst, opts = parts[0], parts[1], ""
    elif len(parts) == 3:
        src, dst, opts = parts
    else:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    modes = set(filter(None, opts.split(",")))
    bad = modes - _VALID_MODES
    if bad or ("ro" in modes and "rw" in modes):
        raise InvalidArgument(f"invalid mode: {opts}")
    if not src:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    return src, _check_target(dst, "bind" if src.startswith("/") else "volume"), opts


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """`--volumes-from NAME[:ro|:rw]`: (container, read-only)."""
    name, _, mode = spec.partition(":")
    if not name:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    if mode not in ("", "ro", "rw"):
        raise InvalidArgument(f"invalid mode: {mode}")
    return name, mode == "ro"


def _inherited(host_config: dict, find) -> dict[str, Planned]:
    """HostConfig.VolumesFrom: the volumes and binds of the containers `find` returns, at the
    same destinations, read-only where the source is or `:ro` asks (never filled again)."""
    out: dict[str, Planned] = {}
    for spec in host_config.get("VolumesFrom") or []:
        name, ro = parse_volumes_from(spec)
        for m in find(name).mounts:
            ro_here = ro or not m.get("RW", True)
            if m.get("Type") == "volume":
                out[m["Destination"]] = Planned(Mount(m["Destination"], "", "volume", ro_here), "volume",
                                                name=m["Name"], nocopy=True)
            elif m.get("Type") == "bind":
                out[m["Destination"]] = Planned(Mount(m["Destination"], m["Source"], "bind", ro_here,
                                                      m.get("Propagation") or "rprivate"), "bind")
    return out


def named_volumes(host_config: dict) -> set[str]:
    """The volumes a create request names in its `-v NAME:DST` binds and `--mount`s."""
    names = {spec.split(":")[0] for spec in host_config.get("Binds") or [] if ":" in spec}
    names |= {m.get("Source") or "" for m in host_config.get("Mounts") or []
              if (m.get("Type") or "volume").lower() == "volume"}
    return {n for n in names if n and not n.startswith("/")}


def plan(host_config: dict, config: dict, volumes, find=None) -> list[Planned]:
    """Everything the container mounts; a later source for the same target wins as in docker
    (--mount over -v over --volumes-from, whose containers `find` looks up; the image's
    VOLUMEs only where nothing else is mounted)."""
    by_target: dict[str, Planned] = _inherited(host_config, find) if find else {}
    for spec in host_config.get("Binds") or []:
        src, dst, opts = parse_bind(spec)
        modes = set(filter(None, opts.split(",")))
        ro = "ro" in modes
        if not src:
            by_target[dst] = Planned(Mount(dst, "", "volume", ro), "volume", anonymous=True, mode=opts)
        elif src.startswith("/"):
            if not os.path.exists(src):
                os.makedirs(src, exist_ok=True)  # docker creates a missing -v host path
            by_target[dst] = Planned(Mount(dst, src, "bind", ro, _propagation(modes)), "bind", mode=opts)
        else:
            by_target[dst] = Planned(Mount(dst, src, "volume", ro), "volume", name=src, nocopy="nocopy" in modes,
                                     mode=opts or "z")
    for m in host_config.get("Mounts") or []:
        kind = (m.get("Type") or "volume").lower()
        target = _check_target(m.get("Target") or "", kind)
        ro = bool(m.get("ReadOnly"))
        if kind == "bind":
            src = m.get("Source") or ""
            if not src.startswith("/"):
                raise InvalidArgument(f"invalid mount config for type \"bind\": invalid mount path: '{src}' must be absolute")
            if not os.path.exists(src):
                raise InvalidArgument(f"invalid mount config for type \"bind\": bind source path does not exist: {src}")
            prop = ((m.get("BindOptions") or {}).get("Propagation")) or "rprivate"
            by_target[target] = Planned(Mount(target, src, "bind", ro, prop), "bind")
        elif kind == "volume":
            name = m.get("Source") or ""
            nocopy = bool((m.get("VolumeOptions") or {}).get("NoCopy"))
            by_target[target] = Planned(Mount(target, name, "volume", ro), "volume", name=name, anonymous=not name,
                                        nocopy=nocopy, mode="z")
        elif kind == "tmpfs":
            opts = m.get("TmpfsOptions") or {}
            by_target[target] = Planned(Mount(target, "", "tmpfs", ro, tmpfs_size=int(opts.get("SizeBytes") or 0),
                                              tmpfs_mode=int(opts.get("Mode") or 0)), "tmpfs")
        else:
            raise InvalidArgument(f"mount type {kind!r} is not supported: use bind, volume or tmpfs")
    for target in (host_config.get("Tmpfs") or {}):
        by_target.pop(_check_target(target, "tmpfs"), None)  # the runtime mounts --tmpfs itself
    for target in (config.get("Volumes") or {}):
        t = _check_target(target, "volume")
        if t not in by_target and t not in (host_config.get("Tmpfs") or {}):
            by_target[t] = Planned(Mount(t, "", "volume"), "volume", anonymous=True)
    driver = host_config.get("VolumeDriver") or "local"
    for p in by_target.values():  # only dockyard's own driver: a plugin named otherwise is not there
        if driver != "local" and p.kind == "volume" and not (p.name and volumes.exists(p.name)):
            raise NotFound(f"create {p.name or os.urandom(32).hex()}: error looking up volume plugin {driver}: "
                           f'plugin "{driver}" not found')
    return [by_target[t] for t in sorted(by_target)]


def _propagation(modes: set[str]) -> str:
    for p in ("rshared", "shared", "rslave", "slave", "private"):
        if p in modes:
            return p
    return "rprivate"


def resolve(planned: list[Planned], volumes, image_rootfs=None, known: list[dict] | None = None,
            user: str | None = None) -> list[dict]:
    """Create the volumes the plan needs (filling new ones from the image at `image_rootfs`,
    the container's mounted rootfs), set their host sources, and return docker's `Mounts`
    list. `known` is the list stored at create, so anonymous volumes keep their names;
    `user` is the container about to start, which mounts volumes that have options."""
    names = {m["Destination"]: m.get("Name") for m in (known or []) if m.get("Type") == "volume"}
    out = []
    for p in planned:
        if p.kind == "volume":
            if not p.name:
                p.name = names.get(p.mount.target) or volumes.create()["Name"]
            if not volumes.exists(p.name):
                volumes.create(p.name, anonymous=p.anonymous)
            p.mount.source = str(volumes.source(p.name, user))
            if image_rootfs is not None and not p.nocopy:
                volumes.fill_from(p.name, image_rootfs / p.mount.target.lstrip("/"))
            out.append({"Type": "volume", "Name": p.name, "Source": p.mount.source, "Destination": p.mount.target,
                        "Driver": "local", "Mode": p.mode, "RW": not p.mount.read_only,
                        "Propagation": ""})
        elif p.kind == "bind":
            if not os.path.exists(p.mount.source):
                raise NotFound(f"bind source path does not exist: {p.mount.source}")
            out.append({"Type": "bind", "Source": p.mount.source, "Destination": p.mount.target, "Mode": p.mode,
                        "RW": not p.mount.read_only, "Propagation": p.mount.propagation})
        else:
            out.append({"Type": "tmpfs", "Source": "", "Destination": p.mount.target, "Mode": "",
                        "RW": not p.mount.read_only, "Propagation": ""})
    return out
