"""A rootless engine's network service with its published ports kept in step on the host.

`Publishing(service, outside)` passes every call through to the network service (the engine's
own, working in the rootless netns) and adds the host side: `attach` picks random host ports
on the host and publishes the container's ports (all or none: a port the host refuses, below
net.ipv4.ip_unprivileged_port_start or held by a host process, fails `attach` in one line and
undoes the container's network, so nothing is left half-made); `detach` unpublishes them;
`connect`, `disconnect` and `reconcile` make the forwarder's ports match the service's ports
table, the one truth (so a forwarder that lost its ports gets them back at the next reconcile,
and a new forwarder at `catch_up`), skipping a port the host now refuses rather than failing
the call for every other container.
"""

from __future__ import annotations

from dockyard.plainclass import replace

from dockyard.errors import DockyardError
from dockyard.network import rootless
from dockyard.network.ports import PortBinding, ephemeral_port


class Publishing:
    def __init__(self, service, outside: rootless.Outside) -> None:
        self._service, self._outside = service, outside

    def __getattr__(self, name: str):
        return getattr(self._service, name)

    def attach(self, container_id: str, *args, ports=(), **kwargs):
        # a random host port (-p 80, -P) is picked here, on the host where the forwarder will
        # listen: the service, in the rootless netns, would find one free there but not on the host
        ports = [p if p.host_port else replace(p, host_port=ephemeral_port(p.host_ip, p.proto)) for p in ports]
        attachment = self._service.attach(container_id, *args, ports=ports, **kwargs)
        try:
            rootless.publish(self._outside, attachment.ports, attachment.ip)
        except BaseException:
            self._service.detach(container_id)
            raise
        return attachment

    def detach(self, container_id: str, *args, **kwargs):
        attachment = self._service.attachment(container_id)
        try:
            return self._service.detach(container_id, *args, **kwargs)
        finally:
            if attachment is not None and attachment.ports:
                rootless.unpublish(self._outside, attachment.ports)

    def connect(self, *args, **kwargs):
        return self._synced(self._service.connect, *args, **kwargs)

    def disconnect(self, *args, **kwargs):
        return self._synced(self._service.disconnect, *args, **kwargs)

    def reconcile(self, *args, **kwargs):
        return self._synced(self._service.reconcile, *args, **kwargs)

    def _synced(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        finally:
            self.sync()

    def catch_up(self, record) -> None:
        """Give a helper started since this root last synced (a new pause process, or one that
        replaced a helper that died) the ports of this root's running containers. `record`
        (a path in the root's run dir) keeps the pid of the helper last synced."""
        pid = self._outside.forwarder_pid
        if pid is None:
            return
        try:
            if record.read_text() == str(pid):
                return
        except FileNotFoundError:
            pass
        try:
            self.sync()
        except DockyardError:
            return  # not answering: the call that needs it says so
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(str(pid))

    def sync(self) -> list[str]:
        """Publish what the ports table holds and the forwarder lacks, drop what it no longer
        holds; returns one line for each container whose ports the host refused."""
        wanted = {(r.binding.host_ip, r.binding.host_port, r.binding.proto): (r.container_ip, r.binding.container_port)
                  for r in self._service.state.firewall_state(())[1]}
        have = {(b.host_ip, b.host_port, b.proto): (ip, b.container_port)
                for b, ip in rootless.published(self._outside)}
        gone = [PortBinding(*key[:2], 0, key[2]) for key in have if key not in wanted]
        if gone:
            rootless.unpublish(self._outside, gone)
        by_target: dict[str, list[PortBinding]] = {}
        for (host_ip, host_port, proto), (ip, port) in wanted.items():
            if have.get((host_ip, host_port, proto)) != (ip, port):
                by_target.setdefault(ip, []).append(PortBinding(host_ip, host_port, port, proto))
        refused = []
        for ip, bindings in by_target.items():
            try:
                rootless.publish(self._outside, bindings, ip)
            except DockyardError as e:
                refused.append(e.message)
        return refused
