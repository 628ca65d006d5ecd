"""Recording fakes for the kernel seams, so the service's logic runs without root."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from dockyard.errors import DockyardError


class FakeNetlink:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.links: dict[str, str] = {}   # ifname -> alias
        self.netns: set[str] = set()
        self.peers: dict[str, str] = {}   # host ifname -> namespace of its peer
        self.fail_on: str | None = None
        self.scans = 0                    # looks at every link on the host

    def _record(self, *call) -> None:
        self.calls.append(call)
        if self.fail_on == call[0]:
            raise DockyardError(f"injected failure in {call[0]}")

    def create_netns(self, path: Path) -> None:
        self._record("create_netns", str(path))
        self.netns.add(str(path))

    def remove_netns(self, path: Path) -> None:
        self._record("remove_netns", str(path))
        self.netns.discard(str(path))
        Path(path).unlink(missing_ok=True)  # as the real one unpins it
        for ifname in [i for i, ns in self.peers.items() if ns == str(path)]:  # as the kernel frees a veth
            del self.peers[ifname]
            self.links.pop(ifname, None)

    def ensure_bridge(self, name: str, address: str, prefixlen: int, tag: str, mtu: int, address6: str = "",
                      prefixlen6: int = 0) -> None:
        self._record("ensure_bridge", name, f"{address}/{prefixlen}")
        self.links.setdefault(name, tag)  # as the kernel: the alias is set when the bridge is made

    def add_endpoint(self, **kw) -> None:
        self._record("add_endpoint", kw["host_ifname"], kw["ifname"], kw["address"], kw["gateway"])
        self.links[kw["host_ifname"]] = kw["tag"]
        self.peers[kw["host_ifname"]] = kw["netns_path"]

    def wait_running(self, name: str) -> None:
        self._record("wait_running", name)

    def delete_link(self, name: str) -> None:
        if name in self.links:
            self._record("delete_link", name)
            del self.links[name]
            self.peers.pop(name, None)

    def tagged_links(self, prefix: str) -> dict[str, str]:
        self.scans += 1
        return {k: v for k, v in self.links.items() if v.startswith(prefix)}

    def link_alias(self, name: str) -> str | None:
        return self.links.get(name)


class FakeFirewall:
    """Keeps the inet tables as the kernel would after each batch (all or nothing), and Docker's
    chains as a test sets them in `chains`."""

    def __init__(self) -> None:
        self.batches: list[list[dict]] = []
        self.forgotten: list[str] = []
        self.sysctls: dict[str, str] = {}
        self.chains: dict[tuple[str, str, str], list[dict]] = {}
        self.tables: dict[str, dict] = {}  # name -> {"chains": {name: [add commands]}, "maps": {name: {key: data}}}

    @property
    def table_present(self) -> bool:
        return bool(self.tables)

    @property
    def last_ruleset(self) -> list[dict]:
        """The last whole table applied."""
        return [b for b in self.batches if b and "table" in b[0].get("add", {})][-1]

    @property
    def published(self) -> dict[tuple, object]:
        """The port maps' elements in our table now: (map, *key) -> data."""
        return {(name, *json.loads(key)): data for t in self.tables.values()
                for name, elems in t["maps"].items() for key, data in elems.items()}

    def apply(self, commands: list[dict]) -> None:
        if not commands:
            return
        tables = copy.deepcopy(self.tables)
        for cmd in commands:
            (verb, body), = cmd.items()
            (kind, obj), = body.items()
            if obj.get("family") != "inet":
                continue
            if kind == "table":
                if verb == "add":
                    tables.setdefault(obj["name"], {"chains": {}, "maps": {}})
                else:
                    tables.pop(obj["name"], None)
                continue
            table = tables.get(obj["table"])
            if table is None:
                raise DockyardError(f"nftables refused the ruleset: No such file or directory ({obj['table']})")
            if kind == "chain":
                table["chains"][obj["name"]] = [cmd["add"]]
            elif kind == "map":
                table["maps"][obj["name"]] = {}
            elif kind == "rule":
                table["chains"][obj["chain"]].append(cmd["add"])
            elif kind == "element":
                elems = table["maps"][obj["name"]]
                for e in obj["elem"]:
                    if verb == "add":
                        elems[json.dumps(e[0]["concat"])] = e[1]
                    elif elems.pop(json.dumps(e["concat"]), None) is None:
                        raise DockyardError("nftables refused the ruleset: No such file or directory (element)")
        self.tables = tables
        self.batches.append(commands)

    def list_chain(self, family: str, table: str, chain: str) -> list[dict] | None:
        """Docker's chains as a test set them; chains of an inet table as the batches left it."""
        if (family, table, chain) in self.chains or family != "inet":
            return self.chains.get((family, table, chain))
        return self.tables.get(table, {}).get("chains", {}).get(chain)

    def list_map(self, family: str, table: str, name: str) -> list[dict] | None:
        elems = self.tables.get(table, {}).get("maps", {}).get(name)
        if elems is None:
            return None
        return [{"map": {"name": name, "elem": [[{"concat": json.loads(k)}, v] for k, v in elems.items()]}}]

    def forget_connections(self, *ips: str) -> None:
        self.forgotten.extend(ips)

    def set_sysctl(self, key: str, value: str) -> None:
        self.sysctls[key] = value


class FakeDns:
    def __init__(self) -> None:
        self.servers: dict[str, tuple[str, bool]] = {}

    def start(self, network_id: str, listen: str, upstreams: list[str], names: bool, loopback6: bool = False) -> None:
        self.servers.setdefault(network_id, (listen, names))

    def stop(self, network_id: str) -> None:
        self.servers.pop(network_id, None)

    def running(self) -> set[str]:
        return set(self.servers)
