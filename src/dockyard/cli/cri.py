"""`dockyard cri serve`: this root as a Kubernetes container runtime (the CRI over gRPC)."""

from __future__ import annotations

import click


@click.group("cri")
def cri() -> None:
    """The Kubernetes Container Runtime Interface."""


@cri.command("serve")
@click.option("--listen", metavar="unix:///PATH",
              help="Socket for the kubelet's --container-runtime-endpoint "
                   "[daemon.json cri.listen, else RUN-DIR/cri.sock: /run/dockyard/cri.sock for the default root].")
@click.option("--cni-conf-dir", metavar="DIR", help="CNI network configs [daemon.json cri.cni-conf-dir, else /etc/cni/net.d].")
@click.option("--cni-bin-dir", "cni_bin_dirs", metavar="DIR", multiple=True,
              help="Where CNI plugins are (repeatable) [daemon.json cri.cni-bin-dirs, else /usr/lib/cni, /opt/cni/bin].")
@click.option("--stream-address", metavar="HOST:PORT",
              help="Where Exec, Attach and PortForward URLs point [daemon.json cri.stream-address, else 127.0.0.1:0].")
@click.pass_obj
def serve_cmd(obj, listen, cni_conf_dir, cni_bin_dirs, stream_address) -> None:
    """Serve the CRI v1 RuntimeService and ImageService until interrupted."""
    import logging

    from dockyard.cri import cni
    from dockyard.cri.server import serve

    logging.basicConfig(level=logging.DEBUG if obj.log_level == "debug" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = obj.engine
    settings = engine.config.get("cri") or {}
    listen = listen or settings.get("listen") or f"unix://{engine.run_dir}/cri.sock"
    plugins = cni.CNI(cni_conf_dir or settings.get("cni-conf-dir") or cni.DEFAULT_CONF_DIR,
                      tuple(cni_bin_dirs or settings.get("cni-bin-dirs") or cni.DEFAULT_BIN_DIRS))
    serve(engine, listen, plugins, stream_address or settings.get("stream-address") or "127.0.0.1:0",
          ready=lambda: click.echo(f"CRI serving on {listen}", err=True))


def register(cli: click.Group) -> None:
    cli.add_command(cri)
