"""`ps --filter` and `container prune --filter`, with docker's keys and meanings."""

from __future__ import annotations

from dockyard.containers import health
from dockyard.errors import InvalidArgument
from dockyard.filtering import label_matches, term_matches

KEYS = ("id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network",
        "publish", "expose", "health", "isolation", "is-task", "until")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def matches(service, c, filters: dict[str, list[str]], prune: bool = False) -> bool:
    for key, values in filters.items():
        if key == "label!" and prune:  # prune only: spare what carries all of these labels
            if all(label_matches(c.config.get("Labels") or {}, v) for v in values):
                return False
            continue
        if key not in KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")
        # label filters must all hold (docker's MatchKVList); other keys' values are alternatives
        if not (all if key == "label" else any)(_one(service, c, key, v) for v in values):
            return False
    return True


def _one(service, c, key: str, value: str) -> bool:
    if key == "id":
        return c.id.startswith(value)
    if key == "name":  # against the name with and without its slash, as dockerd matches it
        return term_matches(value, "/" + c.name) or term_matches(value, c.name)
    if key == "label":
        return label_matches(c.config.get("Labels") or {}, value)
    if key == "status":
        if value not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={value}'")
        return c.status == value
    if key == "exited":
        return c.status == "exited" and str(c.state["ExitCode"]) == value
    if key == "ancestor":
        img = service.images.find(value)
        return c.image_ref == value or (img is not None and img.id == c.image_id)
    if key in ("before", "since"):
        other = service.store.get(value)
        return c.created < other.created if key == "before" else c.created > other.created
    if key == "volume":
        return any(m.get("Name") == value or m.get("Destination") == value for m in c.mounts)
    if key == "network":
        return value in (c.network_settings.get("Networks") or {}) or c.host_config.get("NetworkMode") == value
    if key in ("publish", "expose"):
        wanted = _ports(value)
        if key == "expose":  # the container's ports
            return any(wanted(k) for k in c.config.get("ExposedPorts") or {})
        # the host's ports they are published on (with the container port's protocol), as moby's view
        return any(wanted(f"{b.get('HostPort')}/{k.partition('/')[2] or 'tcp'}")
                   for k, v in (c.network_settings.get("Ports") or {}).items() for b in v or [])
    if key == "health":
        health.check_filter(value)
        return health.status(c.state) == value
    if key == "until":
        from dockyard.containers.views import parse_time
        return c.created < parse_time(value)
    return value in ("false", "none", "")


def _ports(value: str):
    """A publish/expose filter's `PORT[-END][/PROTO]` (tcp unless named), as a test of "PORT/PROTO"."""
    spec, _, proto = value.partition("/")
    first, _, last = spec.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        raise InvalidArgument(f"invalid port specification: {value!r}")
    low, high, proto = int(first), int(last or first), proto or "tcp"

    def wanted(port: str) -> bool:
        number, _, kind = port.partition("/")
        return number.isdigit() and low <= int(number) <= high and (kind or "tcp") == proto
    return wanted
