"""The Engine: one object that wires the services over a root and a run dir.

Every front end (CLI, API server, hub) talks to an Engine and nothing else, so they all see
the same state the same way. Services are built on first use: `dockyard images` should not
pay for what `dockyard run` needs.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from dockyard import rootless
from dockyard.errors import InvalidArgument
from dockyard.locations import DEFAULT_ROOT, DEFAULT_RUN_DIR

def defaults() -> tuple[str, str]:
    """The default root and run dir: /var/lib/dockyard and /run/dockyard, or a rootless
    user's XDG directories (rootless/paths.py)."""
    if rootless.active():
        from dockyard.rootless import paths
        return str(paths.root()), str(paths.run_dir())
    return DEFAULT_ROOT, DEFAULT_RUN_DIR


class Engine:
    def __init__(self, root: str | os.PathLike | None = None, run_dir: str | os.PathLike | None = None,
                 storage_driver: str | None = None) -> None:
        self._defaults = defaults()
        self.root = Path(root or os.environ.get("DOCKYARD_ROOT") or self._defaults[0]).absolute()
        self._run_dir = run_dir or os.environ.get("DOCKYARD_RUN_DIR")
        self.root.mkdir(parents=True, exist_ok=True)
        self._requested_driver = storage_driver

    @property
    def default_root(self) -> bool:
        return self.root == Path(self._defaults[0])

    @cached_property
    def id(self) -> str:
        """The root's identity (made on first use), which every host object it makes carries."""
        from dockyard.store.identity import root_id
        return root_id(self.root)

    @cached_property
    def run_dir(self) -> Path:
        """The run dir asked for, else /run/dockyard for the default root and
        /run/dockyard-<identity> for any other, so two roots never share namespaces, DNS
        servers' pid files or shim sockets (rootless: the same under $XDG_RUNTIME_DIR)."""
        if self._run_dir:
            return Path(self._run_dir).absolute()
        run_dir = self._defaults[1]
        return Path(run_dir if self.default_root else f"{run_dir}-{self.id}")

    @cached_property
    def config(self) -> dict:
        """`<root>/daemon.json`, dockerd's config file format: the settings a root keeps
        (insecure-registries, bridge, default-subnet, nft-table, ...)."""
        import json

        path = self.root / "daemon.json"
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as e:
            raise InvalidArgument(f"{path} is not valid JSON: {e}; fix or remove it") from None
        if not isinstance(doc, dict):
            raise InvalidArgument(f"{path} must hold a JSON object")
        return doc

    @property
    def insecure_registries(self) -> list[str]:
        return list(self.config.get("insecure-registries") or [])

    @property
    def registry_mirrors(self) -> list[str]:
        """daemon.json `registry-mirrors`, checked and in dockerd's form (distribution/mirrors.py)."""
        from dockyard.distribution.mirrors import normalize

        mirrors = self.config.get("registry-mirrors") or []
        if not isinstance(mirrors, list):
            raise InvalidArgument(f"{self.root / 'daemon.json'}: registry-mirrors must be a list of URLs")
        return [normalize(m, str(self.root / "daemon.json")) for m in mirrors]

    @cached_property
    def storage_driver(self) -> str:
        """Fixed for a root at first use (mixing drivers on one root would corrupt layers):
        --storage-driver, else daemon.json `storage-driver`, else the first that mounts here
        (snapshots/probe.py)."""
        from dockyard.snapshots import DRIVERS

        marker = self.root / "storage-driver"
        try:
            current = marker.read_text().strip()
        except FileNotFoundError:
            current = ""
        configured = self.config.get("storage-driver")
        if self._requested_driver and configured and self._requested_driver != configured:
            raise InvalidArgument(f"the storage driver is set both by --storage-driver ({self._requested_driver}) "
                                  f"and in {self.root / 'daemon.json'} ({configured}); keep one")
        wanted = self._requested_driver or configured or current
        if wanted and wanted not in DRIVERS:
            raise InvalidArgument(f"unknown storage driver {wanted!r}: choose one of {', '.join(DRIVERS)}")
        if current and wanted != current:
            raise InvalidArgument(
                f"root {self.root} uses the {current} storage driver; use --storage-driver {current} or another --root"
            )
        if not current:
            if not wanted:
                from dockyard.snapshots.probe import choose
                (self.root / "snapshots").mkdir(exist_ok=True)
                wanted = choose(self.root / "snapshots")
            tmp = marker.with_name(f".storage-driver.{os.getpid()}")
            tmp.write_text(wanted + "\n")
            os.replace(tmp, marker)
        return wanted

    @cached_property
    def reserve(self):
        """The free space unpacking and ingesting leave on the root's filesystem
        (daemon.json `min-free-space`; store/space.py)."""
        from dockyard.store.space import Reserve
        return Reserve.parse(self.root, self.config.get("min-free-space"), str(self.root / "daemon.json"))

    @cached_property
    def content(self):
        from dockyard.store.content import ContentStore
        return ContentStore(self.root, self.reserve)

    @cached_property
    def db(self):
        from dockyard.store.metadata import MetadataDB
        return MetadataDB(self.root / "dockyard.db")

    @cached_property
    def lock(self):
        from dockyard.store.lock import RootLock
        return RootLock(self.root)

    @cached_property
    def snapshots(self):
        from dockyard.snapshots import get_snapshotter
        return get_snapshotter(self.storage_driver, self.root, self.db)

    @cached_property
    def images(self):
        from dockyard.images.service import ImageService

        images = ImageService(self.content, self.db, self.snapshots, self.lock, self.events)
        images.extra_roots.append(lambda: self.build_cache.roots())
        images.users_of.append(lambda ref: self.containers.store.using_image(ref))
        return images

    @cached_property
    def build_cache(self):
        from dockyard.builder.cache import BuildCache
        return BuildCache(self)

    @cached_property
    def events(self):
        from dockyard.store.events import EventLog
        return EventLog(self.db)

    @cached_property
    def volumes(self):
        from dockyard.volumes.service import VolumeService
        volumes = VolumeService(self.db, self.root, self.events)
        volumes.users_of = lambda name: self.containers.volume_users(name)
        return volumes

    @cached_property
    def networks(self):
        from dockyard.network.config import DaemonNetwork
        from dockyard.network.owners import Registry, settle
        from dockyard.network.service import NetworkService

        registry = Registry(_roots_registry())
        config = settle(DaemonNetwork.from_mapping(self.config, self.root / "daemon.json"), self.root, self.id,
                        default_root=self.default_root, registry=registry)
        if not rootless.active():
            return NetworkService(self.db, self.root, self.run_dir, config, registry=registry)
        # a rootless engine's: at work in the user's network namespace, its ports published
        # from the host by the user's network helper, the host's resolvers as seen from there
        from dockyard.network.rootless import Outside
        from dockyard.network.rootless.publishing import Publishing
        from dockyard.rootless import netns, paths

        outside = Outside(paths.run_dir())
        service = NetworkService(self.db, self.root, self.run_dir, config, registry=registry,
                                 host_resolvers=outside.host_resolvers)
        publishing = Publishing(netns.Inside(service, netns.path()), outside)
        publishing.catch_up(self.run_dir / "rootless-net-synced")
        return publishing

    @cached_property
    def containers(self):
        from dockyard.containers.service import ContainerService
        return ContainerService(self)


def _roots_registry() -> Path:
    """Where roots sharing a network namespace list their names: the host's, or a rootless user's."""
    from dockyard.network.owners import REGISTRY_DIR

    if rootless.active():
        from dockyard.rootless import paths
        return paths.roots_registry()
    return REGISTRY_DIR
