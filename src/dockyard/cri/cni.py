"""Pod networking through CNI plugins, as the CNI spec has a runtime drive them: the first
network config (`*.conflist`, `*.conf`, `*.json`, in name order) of a config dir, each plugin
of its chain executed from the bin dirs with the `CNI_*` environment and its JSON config on
stdin; ADD in order, each given the previous result, DEL in reverse with the cached result of
the ADD. The result of a pod's ADD is kept in its sandbox's directory, so a
DEL after a restart of the server (or of the host's CRI client) finds what it undoes."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import Conflict, DockyardError, InvalidArgument

DEFAULT_CONF_DIR = "/etc/cni/net.d"
DEFAULT_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")  # Debian's containernetworking-plugins, then upstream's
IFNAME = "eth0"
_TIMEOUT = 60


class NotReady(Conflict):
    """No usable network config: pods that need a network cannot start (NetworkReady=false)."""


@dataclass(frozen=True)
class Network:
    name: str
    version: str
    plugins: list[dict]
    source: str

    @classmethod
    def load(cls, conf_dir: str) -> "Network":
        try:
            names = sorted(n for n in os.listdir(conf_dir) if n.endswith((".conflist", ".conf", ".json")))
        except OSError:
            names = []
        if not names:
            raise NotReady(f"cni plugin not initialized: no network config found in {conf_dir}")
        path = os.path.join(conf_dir, names[0])
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise NotReady(f"cni config {path} cannot be read: {e}") from None
        if not isinstance(doc, dict):
            raise NotReady(f"cni config {path} must hold a JSON object")
        plugins = doc.get("plugins") if "plugins" in doc else [doc]
        if not isinstance(plugins, list) or not plugins or not all(isinstance(p, dict) and p.get("type")
                                                                   for p in plugins):
            raise NotReady(f"cni config {path} has no plugins (each needs a \"type\")")
        name = doc.get("name")
        if not name:
            raise NotReady(f"cni config {path} has no \"name\"")
        return cls(name, str(doc.get("cniVersion") or "0.4.0"), plugins, path)


class CNI:
    def __init__(self, conf_dir: str = DEFAULT_CONF_DIR, bin_dirs: tuple[str, ...] = DEFAULT_BIN_DIRS) -> None:
        self.conf_dir, self.bin_dirs = conf_dir, tuple(bin_dirs)

    def network(self) -> Network:
        return Network.load(self.conf_dir)

    def ready(self) -> str:
        """"" when pods can get a network, else why not (for Status's NetworkReady)."""
        try:
            self.network()
            return ""
        except NotReady as e:
            return e.message

    # -- the three operations of a pod -------------------------------------------------------
    def add(self, pod_id: str, netns: str, args: dict[str, str], runtime_config: dict, cache: Path) -> dict:
        """ADD the pod's namespace to the network; returns the result (ips, interfaces, ...)
        and keeps it, with the config used, in `cache`."""
        net = self.network()
        result: dict | None = None
        done: list[dict] = []
        try:
            for plugin in net.plugins:
                result = self._exec("ADD", plugin, net, pod_id, netns, args, runtime_config, result)
                done.append(plugin)
        except BaseException:
            self._undo(done, net, pod_id, netns, args, runtime_config, result)
            raise
        record = {"network": {"name": net.name, "cniVersion": net.version, "plugins": net.plugins},
                  "args": args, "runtimeConfig": runtime_config, "netns": netns, "result": result or {}}
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, cache)
        return result or {}

    def delete(self, pod_id: str, cache: Path) -> None:
        """DEL with what the ADD used (idempotent: no cache, nothing to undo)."""
        try:
            record = json.loads(cache.read_text())
        except FileNotFoundError:
            return
        except ValueError:
            cache.unlink()
            return
        conf = record["network"]
        net = Network(conf["name"], conf["cniVersion"], conf["plugins"], str(cache))
        self._undo(net.plugins, net, pod_id, record["netns"], record["args"], record["runtimeConfig"],
                   record["result"], strict=True)
        cache.unlink()

    def _undo(self, plugins, net, pod_id, netns, args, runtime_config, result, strict: bool = False) -> None:
        errors = []
        for plugin in reversed(plugins):
            try:
                self._exec("DEL", plugin, net, pod_id, netns, args, runtime_config, result)
            except DockyardError as e:
                errors.append(e.message)
        if errors and strict:
            raise DockyardError("; ".join(errors))

    # -- one plugin --------------------------------------------------------------------------
    def _binary(self, kind: str) -> str:
        if "/" in kind or kind.startswith("."):
            raise InvalidArgument(f"cni plugin type {kind!r} is not a plugin name")
        for d in self.bin_dirs:
            path = os.path.join(d, kind)
            if os.access(path, os.X_OK):
                return path
        raise NotReady(f"cni plugin {kind} not found in {os.pathsep.join(self.bin_dirs)}")

    def _exec(self, command: str, plugin: dict, net: Network, pod_id: str, netns: str, args: dict[str, str],
              runtime_config: dict, prev: dict | None) -> dict:
        conf = {**plugin, "name": net.name, "cniVersion": net.version}
        wanted = {k for k, on in (plugin.get("capabilities") or {}).items() if on}
        chosen = {k: v for k, v in runtime_config.items() if k in wanted}
        if chosen:
            conf["runtimeConfig"] = chosen
        if prev is not None:
            conf["prevResult"] = prev
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
               "CNI_CONTAINERID": pod_id, "CNI_NETNS": netns, "CNI_IFNAME": IFNAME,
               "CNI_ARGS": ";".join(f"{k}={v}" for k, v in {"IgnoreUnknown": "1", **args}.items()),
               "CNI_PATH": os.pathsep.join(self.bin_dirs)}
        try:
            p = subprocess.run([self._binary(plugin["type"])], input=json.dumps(conf).encode(), env=env,
                               capture_output=True, timeout=_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DockyardError(f"cni plugin {plugin['type']} {command} took over {_TIMEOUT} s") from None
        if p.returncode != 0:
            raise DockyardError(f"cni plugin {plugin['type']} failed ({command}): {_error_text(p.stdout, p.stderr)}")
        if command != "ADD":
            return prev or {}
        try:
            return json.loads(p.stdout or b"{}")
        except ValueError:
            raise DockyardError(f"cni plugin {plugin['type']} gave no JSON result") from None


def _error_text(stdout: bytes, stderr: bytes) -> str:
    """The spec's error object ({"code", "msg", "details"}) as one line, else what it printed."""
    try:
        doc = json.loads(stdout)
        text = doc.get("msg", "") + (f": {doc['details']}" if doc.get("details") else "")
        if text:
            return text
    except ValueError:
        pass
    return (stderr or stdout).decode(errors="replace").strip().replace("\n", " ")[:500] or "no message"


def pod_ip(result: dict) -> tuple[str, list[str]]:
    """The first address of a result (0.4.0/1.0.0 `ips`, or 0.3.0-style `ip4`), and the rest."""
    ips = [entry.get("address", "").split("/")[0] for entry in result.get("ips") or [] if entry.get("address")]
    if not ips and (result.get("ip4") or {}).get("ip"):
        ips = [result["ip4"]["ip"].split("/")[0]]
    return (ips[0] if ips else ""), ips[1:]
