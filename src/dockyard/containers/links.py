"""Legacy container links (`--link NAME[:ALIAS]`, `HostConfig.Links`) on the default bridge,
as Docker keeps them: the linked container's address in /etc/hosts under the alias, its
hostname and its name, and `ALIAS_PORT_…`, `ALIAS_NAME`, `ALIAS_ENV_…` variables.

A link is recorded at create as Docker shows it in inspect, `/child:/parent/alias`, and
resolved again at each start (the child must be running on the default bridge then)."""

from __future__ import annotations

from dockyard.errors import Conflict, InvalidArgument
from dockyard.plainclass import plainclass


@plainclass(frozen=True)
class Link:
    child: str   # the linked container's name
    alias: str

    def recorded(self, parent: str) -> str:
        return f"/{self.child}:/{parent}/{self.alias}"


def parse(text: str) -> Link:
    """Docker's ParseLink: `name`, `name:alias`, or the recorded `/name:/parent/alias`."""
    parts = text.split(":")
    if len(parts) > 2 or not parts[0]:
        raise InvalidArgument(f"bad format for links: {text}")
    if len(parts) == 1:
        return Link(text.lstrip("/"), text.lstrip("/"))
    if parts[0].startswith("/"):
        return Link(parts[0][1:], parts[1].rsplit("/", 1)[-1])
    return Link(parts[0], parts[1])


def record(service, parent: str, links: list[str]) -> list[str]:
    """The links of a container being created, checked as Docker checks them, in the form
    inspect shows."""
    out = []
    for text in links:
        link = parse(text)
        child = service.store.find(link.child)
        if child is None:
            raise InvalidArgument(f"could not get container for {link.child}: No such container: {link.child}")
        if child.host_config.get("NetworkMode") == "host":
            raise InvalidArgument("conflicting options: host type networking can't be used with links. "
                                  "This would result in undefined behavior")
        out.append(Link(child.name, link.alias).recorded(parent))
    return out


@plainclass(frozen=True)
class Resolved:
    hosts: list[str]   # `--add-host` entries: "alias hostname name:ip"
    env: list[str]     # the ALIAS_* variables, before the container's own Env


def resolve(service, c) -> Resolved:
    """What a starting container's links give it; each linked container must run on the
    default bridge now."""
    hosts, env = [], []
    for text in c.host_config.get("Links") or []:
        link = parse(text)
        child = service.store.find(link.child)
        if child is not None:
            child = service.refresh(child)
        if child is None or not child.running:
            raise Conflict(f"Cannot link to a non running container: /{link.child} AS /{c.name}/{link.alias}")
        bridge = (child.network_settings.get("Networks") or {}).get("bridge") or {}
        ip = bridge.get("IPAddress")
        if not ip:
            raise Conflict(f"Cannot link to /{child.name}, as it does not belong to the default network")
        names = [link.alias, child.config.get("Hostname") or child.id[:12]]
        if link.alias != child.name:
            names.append(child.name)
        hosts.append(f"{' '.join(names)}:{ip}")
        env += variables(f"/{c.name}/{link.alias}", ip, child.config)
    return Resolved(hosts, env)


def variables(name: str, ip: str, child_config: dict) -> list[str]:
    """Docker's link variables for the linked container at `ip` (moby's links.ToEnv)."""
    alias = name.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = []
    for key in child_config.get("ExposedPorts") or {}:
        number, _, proto = key.partition("/")
        ports.append((int(number.split("-")[0]), proto or "tcp"))
    ports.sort(key=lambda p: (p[1] != "tcp", p[1], p[0]))  # tcp first, then by protocol and number
    env = []
    start = end = None
    for i, (number, proto) in enumerate(ports):
        if i == 0:
            start = end = (number, proto)
            env.append(f"{alias}_PORT={proto}://{ip}:{number}")
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        env += [f"{prefix}={proto}://{ip}:{number}", f"{prefix}_ADDR={ip}", f"{prefix}_PORT={number}",
                f"{prefix}_PROTO={proto}"]
        if i and number == end[0] + 1 and proto == end[1]:
            end = (number, proto)
            if i < len(ports) - 1:
                continue
        if end != start:
            first = f"{alias}_PORT_{start[0]}_{start[1].upper()}"
            env += [f"{first}_START={start[1]}://{ip}:{start[0]}", f"{first}_PORT_START={start[0]}",
                    f"{first}_END={end[1]}://{ip}:{end[0]}", f"{first}_PORT_END={end[0]}"]
        start = end = (number, proto)
    env.append(f"{alias}_NAME={name}")
    for entry in child_config.get("Env") or []:
        key, sep, value = entry.partition("=")
        if sep and key not in ("HOME", "PATH"):
            env.append(f"{alias}_ENV_{key}={value}")
    return env


def remove(service, name: str) -> None:
    """`DELETE /containers/{/parent/alias}?link=1`: the parent forgets that link."""
    name = name if name.startswith("/") else "/" + name
    parent_name, _, alias = name[1:].rpartition("/")
    if not parent_name:
        raise Conflict("Conflict, cannot remove the default link name of the container")
    parent = service.store.find(parent_name)
    if parent is None:
        raise InvalidArgument(f"Cannot get parent /{parent_name} for link name {name}")
    kept = [t for t in parent.host_config.get("Links") or [] if parse(t).alias != alias]
    parent.host_config["Links"] = kept or None
    service.store.save(parent, "host_config")
