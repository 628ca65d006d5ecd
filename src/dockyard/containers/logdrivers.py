"""Log drivers as Docker checks them at create: json-file, local (kept by the shim in the
json-file format, with local's default rotation) and none (no log kept, nothing to read).
Beside Docker's, `k8s-file` (podman's name): the CRI's log format at the file its `path`
option names, which is how the kubelet reads the logs of containers started through the CRI."""

from __future__ import annotations

import os

from dockyard.errors import DockyardError, InvalidArgument

# Docker's own drivers that dockyard does not offer: refused by name, never silently ignored.
_DOCKER_ONLY = {"syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"}
_ATTRIBUTES = {"labels", "labels-regex", "env", "env-regex", "tag"}  # every driver's common opts
OPTS = {"json-file": {"max-size", "max-file", "compress", *_ATTRIBUTES},
        "local": {"max-size", "max-file", "compress", *_ATTRIBUTES},
        "k8s-file": {"path", "max-size", *_ATTRIBUTES}}
LOCAL_DEFAULTS = {"max-size": "20m", "max-file": "5"}  # local's rotation unless asked otherwise


class ReadingUnsupported(DockyardError):
    """Docker's ErrReadLogsNotSupported: the driver keeps nothing to read (501)."""

    status = 501

    def __init__(self) -> None:
        super().__init__("configured logging driver does not support reading")


def check(log: dict) -> dict:
    """HostConfig.LogConfig with Docker's default driver filled in, or Docker's refusal."""
    kind = log.get("Type") or "json-file"
    opts = dict(log.get("Config") or {})
    if kind != "none":
        mode = opts.get("mode", "")
        if mode not in ("", "blocking", "non-blocking"):
            raise InvalidArgument(f"logger: logging mode not supported: {mode}")
        if "max-buffer-size" in opts and mode != "non-blocking":
            raise InvalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        if kind in _DOCKER_ONLY:
            raise InvalidArgument(f"log driver '{kind}' is not supported by dockyard: use json-file, local, k8s-file or none")
        if kind not in OPTS:
            raise InvalidArgument(f"logger: no log driver named '{kind}' is registered")
        for opt in opts:
            if opt not in OPTS[kind] and opt not in ("mode", "max-buffer-size"):  # each driver's own words
                raise InvalidArgument(f"unknown log opt '{opt}' for json-file log driver" if kind == "json-file"
                                      else f"unknown log opt '{opt}' for log driver {kind}")
        if kind == "k8s-file" and opts.get("path") and not opts["path"].startswith("/"):
            raise InvalidArgument(f"k8s-file log path must be absolute, not {opts['path']!r}")
    return {"Type": kind, "Config": opts}


def keeps_log(host_config: dict) -> bool:
    return host_config["LogConfig"]["Type"] != "none"


def log_file(root, c) -> str:
    """docker's `<id>-json.log` in the container's dir on `root`, or the file a k8s-file log names."""
    return custom_path(c.host_config) or os.path.join(root, "containers", c.id, f"{c.id}-json.log")


def custom_path(host_config: dict) -> str:
    """Where a k8s-file log is kept when its `path` option names a file ("" otherwise)."""
    log = host_config["LogConfig"]
    return log["Config"].get("path", "") if log["Type"] == "k8s-file" else ""


def shim_format(host_config: dict) -> str:
    return "k8s-file" if host_config["LogConfig"]["Type"] == "k8s-file" else "json-file"


def limits(host_config: dict) -> dict:
    """The rotation opts the shim applies: the container's, over local's defaults for local."""
    log = host_config["LogConfig"]
    return {**(LOCAL_DEFAULTS if log["Type"] == "local" else {}), **log["Config"]}
