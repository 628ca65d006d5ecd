"""Health checks: docker's `Config.Healthcheck`, merged over the image's HEALTHCHECK, probed by
the container's shim (see runtime/shim/README.md) and shown as docker shows `State.Health`.

The engine's part is everything but the probing: it checks and merges the settings, writes the
probe (command, user, capabilities, seccomp, cgroups, all resolved) into the shim's state dir
at each start, and reads back what the shim keeps in `health.json`. The shim keeps the log of
its own run; the record keeps earlier runs' log, so a restart starts over at `starting` with
the last five results still shown, as docker does.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # read-only commands load this module: no pathlib for annotations
if TYPE_CHECKING:
    from pathlib import Path

# docker's defaults (daemon/health.go) and its minimum for any duration that is set
INTERVAL, TIMEOUT, START_PERIOD, START_INTERVAL, RETRIES = 30 * 10**9, 30 * 10**9, 0, 5 * 10**9, 3
MINIMUM = 10**6
LOG_ENTRIES = 5
_DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")
PROBE_FILE, STATUS_FILE, SECCOMP_FILE = "probe.conf", "health.json", "probe.bpf"
FILTER_VALUES = ("starting", "healthy", "unhealthy", "none")


def merge(user: dict | None, image: dict | None) -> dict | None:
    """docker's merge of a request's Healthcheck over the image's: unset fields (empty Test,
    zero durations and retries) come from the image."""
    if not user:
        return dict(image) if image else None
    merged = dict(user)
    if image:
        for key in ("Test", *_DURATIONS, "Retries"):
            if not merged.get(key) and image.get(key):
                merged[key] = image[key]
    # as dockerd keeps it: unset numbers (null or 0) are left out, as Go's omitempty leaves them
    return {k: v for k, v in merged.items() if not (k in (*_DURATIONS, "Retries") and not v)}


def validate(hc: dict | None) -> None:
    """The checks docker's create makes, with its messages."""
    if not hc:
        return
    if not isinstance(hc, dict):
        raise InvalidArgument("Healthcheck must be an object")
    test = hc.get("Test")
    if test is not None and (not isinstance(test, list) or not all(isinstance(t, str) for t in test)):
        raise InvalidArgument("Healthcheck.Test must be a list of strings")
    for key in _DURATIONS:
        value = hc.get(key) or 0
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgument(f"Healthcheck.{key} must be a number of nanoseconds")
        if value != 0 and value < MINIMUM:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    retries = hc.get("Retries") or 0
    if not isinstance(retries, int) or isinstance(retries, bool):
        raise InvalidArgument("Healthcheck.Retries must be a number")
    if retries < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def command(config: dict) -> list[str] | None:
    """The probe's argv, None when the container has no (or a disabled) health check:
    CMD runs its arguments, CMD-SHELL runs them with the container's shell."""
    test = (config.get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        return None  # NONE, nothing, or a type docker ignores as well
    if test[0] == "CMD":
        return list(test[1:])
    return [*(config.get("Shell") or ["/bin/sh", "-c"]), *test[1:]]


def write_probe(state_dir: Path, config: dict, process: dict, cgroup_dirs: list[str], seccomp: bytes | None) -> str:
    """The shim's --health file for this start (the format is in probe.h); returns its path.
    `process` is the probe as an OCI process: the container's, with the probe's args, env,
    user and cwd."""
    from dockyard.oci.durations import format_duration
    from dockyard.runtime.shim import entering
    hc = config["Healthcheck"]
    timeout = hc.get("Timeout") or TIMEOUT
    lines = [("interval_ms", _ms(hc.get("Interval") or INTERVAL)), ("timeout_ms", _ms(timeout)),
             ("start_period_ms", _ms(hc.get("StartPeriod") or START_PERIOD)),
             ("start_interval_ms", _ms(hc.get("StartInterval") or START_INTERVAL)),
             ("retries", hc.get("Retries") or RETRIES),
             ("timeout_text", f"Health check exceeded timeout ({format_duration(timeout)})")]
    seccomp_path = None
    if seccomp:
        (state_dir / SECCOMP_FILE).write_bytes(seccomp)
        seccomp_path = str(state_dir / SECCOMP_FILE)
    lines += entering.command_lines(process) + entering.container_lines(process, cgroup_dirs, seccomp_path)
    path = state_dir / PROBE_FILE
    path.write_text(entering.file_text(lines))
    return str(path)


def _ms(ns: int) -> int:
    return -(-ns // 10**6)  # rounded up: 1ns is 1ms, 0 stays 0


def started(state: dict, config: dict) -> None:
    """A start: docker's monitor begins again at `starting`, keeping the log."""
    if command(config) is None:
        state.pop("Health", None)
        return
    log = (state.get("Health") or {}).get("Log") or []
    state["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": log}


def live(state: dict, state_dir: Path) -> dict | None:
    """State.Health of a running container: the shim's status, earlier runs' log before its own."""
    if "Health" not in state:
        return None
    from dockyard.jsonread import load_file

    try:
        shim = load_file(str(state_dir / STATUS_FILE))
    except (OSError, ValueError):
        return state["Health"]
    seen = {e["Start"]: e for e in [*(state["Health"].get("Log") or []), *shim.get("Log", [])]}
    log = [seen[k] for k in sorted(seen)][-LOG_ENTRIES:]
    # docker stops the monitor of a paused container, which leaves it unhealthy
    current = "unhealthy" if state.get("Status") == "paused" else shim.get("Status", "starting")
    return {"Status": current, "FailingStreak": shim.get("FailingStreak", 0), "Log": log}


def status(state: dict) -> str:
    """What `--filter health=` compares: starting, healthy, unhealthy or none."""
    return (state.get("Health") or {}).get("Status") or "none"


def check_filter(value: str) -> None:
    if value not in FILTER_VALUES:
        raise InvalidArgument(f"Unrecognised filter value for health: {value}")


def suffix(state: dict) -> str:
    """What `ps` adds to "Up 3 seconds": " (healthy)", " (health: starting)"."""
    current = (state.get("Health") or {}).get("Status")
    if not current:
        return ""
    return " (health: starting)" if current == "starting" else f" ({current})"


def event_action(new_status: str) -> str:
    return f"health_status: {new_status}"
