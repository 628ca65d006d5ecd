"""`create`: a container's record, its rootfs snapshot over an init layer, its volumes; and
the undoing of them (a create that failed half-way, and `remove`)."""

from __future__ import annotations

import os
import shutil
import time

from dockyard import rootless
from dockyard.containers import links, names
from dockyard.containers.mounts import named_volumes, plan, resolve
from dockyard.containers.record import Container
from dockyard.containers.request import check_config, check_host_config, merge_config, networking_config, swap_warnings
from dockyard.containers.runtimes import builtin
from dockyard.network import endpoints as network_endpoints
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.runtime import cgroups
from dockyard.runtime.delegation import refuse_limits


class Create:
    """A part of ContainerService (service.py), whose store, engine and events it uses."""

    def create(self, body: dict, name: str | None = None, warnings: list[str] | None = None,
               platform: str | None = None) -> Container:
        """A new container of `body` (the Engine API's create body); what dockerd would warn
        about is appended to `warnings`; with `platform` (os/arch[/variant]), of that
        platform's image, which must be present."""
        img = self.images.find(body.get("Image") or "")
        if not body.get("Image"):
            raise InvalidArgument("no image given: the request needs an Image")
        if img is None:
            from dockyard.images.service import no_such_image
            raise no_such_image(body["Image"])
        if platform:
            from dockyard.images.indexes import for_platform
            from dockyard.oci.platform import parse_platform
            img = for_platform(self.images, body["Image"], parse_platform(platform))
        from dockyard import emulation
        image_cfg = self.images.config(img)
        emulation.ensure(image_cfg.get("architecture") or emulation.host_architecture())  # another arch: QEMU
        config = merge_config(body, image_cfg.get("config") or {})
        host_config = check_host_config(body.get("HostConfig") or {})
        if rootless.active():
            refuse_limits(host_config, own_runtime=builtin(host_config.get("Runtime") or "dockyard"))
        found = swap_warnings(host_config, cgroups.swap_limit_supported())
        if warnings is not None:
            warnings += found
        if not config["Cmd"] and not config["Entrypoint"]:
            raise InvalidArgument("no command specified")
        check_config(config)
        self._check_network(host_config, body.get("NetworkingConfig") or {})
        name = names.validate(name) if name else names.generate(self.store.names())
        if host_config.get("Links") and host_config["NetworkMode"] == "bridge":
            host_config["Links"] = links.record(self, name, host_config["Links"])
        cid = os.urandom(32).hex()
        if not config["Hostname"]:  # docker records the hostname the container gets
            config["Hostname"] = os.uname().nodename if host_config["NetworkMode"] == "host" else cid[:12]
        planned = plan(host_config, config, self.engine.volumes, self._volumes_source)
        nc = networking_config(body.get("NetworkingConfig") or {}, host_config["NetworkMode"], host_config.get("Links"))
        c = Container(cid, name, time.time(), body["Image"], img.id, config, host_config,
                      network_settings={"Ports": {}, "NetworkingConfig": nc,
                                        "Networks": network_endpoints.planned(host_config["NetworkMode"], nc["EndpointsConfig"])})
        with self.images.adding():
            self.dir(cid).mkdir(parents=True, exist_ok=True)
            os.close(self.lifecycle_file(cid, create=True))  # there before anyone waits on it
            try:
                c.mounts = resolve(planned, self.engine.volumes)
                self._prepare_rootfs(cid, self.images.top_layer(img, image_cfg))
                self.store.insert(c)
            except BaseException:
                self._discard(c)
                raise
        self.event(c, "create")
        return c

    def _prepare_rootfs(self, cid: str, image_top: str) -> None:
        """The container's writable snapshot, over the init layer of its image: the mount
        points the runtime binds onto (/etc/hosts, /proc, ...), so `diff` and `commit` show
        only what the container itself changed, as docker's init layer does. Docker makes
        one per container; its content depends on the image alone, so here the image's
        containers share one (made by the first, collected with the image's layers), and a
        start and an `--rm` make and remove ~15 fewer files and directories."""
        snaps = self.engine.snapshots
        init = init_key(image_top)
        if not snaps.exists(init):
            self._make_init_layer(init, image_top)
        snaps.prepare(cid, init)

    def _make_init_layer(self, key: str, image_top: str) -> None:
        from dockyard.containers.initlayer import populate
        snaps = self.engine.snapshots
        tmp = snaps.start_layer(image_top)
        try:
            lowers = snaps.lower_dirs(image_top) if snaps.whiteout_mode == "overlay" and image_top else [tmp / "fs"]
            populate(tmp / "fs", lowers)
            snaps.publish(tmp, key, image_top, "committed")
        except Conflict:
            return  # another create made it meanwhile (the same content); publish took ours away
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _remove_rootfs(self, cid: str) -> None:
        for key in (cid, f"init-{cid}"):  # and the init layer of a container made before they were shared
            if self.engine.snapshots.exists(key):
                self.engine.snapshots.remove(key)

    def _discard(self, c: Container) -> None:
        """Undo a create that failed half-way."""
        self._remove_rootfs(c.id)
        self._remove_anonymous_volumes(c)
        shutil.rmtree(self.dir(c.id), ignore_errors=True)

    def _remove_anonymous_volumes(self, c: Container) -> None:
        """The anonymous volumes made for this container alone: not one its request named, even
        if it was created without a name (as moby keeps it)."""
        named = named_volumes(c.host_config)
        for m in c.mounts:
            name = m.get("Name")
            if m.get("Type") == "volume" and name not in named and self._anonymous(name) and not self.volume_users(name):
                self.engine.volumes.remove(name, force=True)

    def _anonymous(self, volume: str) -> bool:
        row = self.engine.db.one("SELECT anonymous FROM volumes WHERE name=?", (volume,))
        return bool(row and row[0])

    def _volumes_source(self, ref: str) -> Container:
        """The container --volumes-from names: missing, a mistake in the request (400, so the
        docker CLI does not take it for a missing image and pull)."""
        try:
            return self.get(ref)
        except NotFound as e:
            raise InvalidArgument(e.message) from None


def init_key(image_top: str) -> str:
    """The init layer of the image whose top layer is `image_top` ("" for one without layers)."""
    return f"init-{image_top or 'scratch'}"
