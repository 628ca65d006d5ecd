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
@click.pass_obj
def serve_cmd(obj, listen) -> None:
    """Serve the CRI v1 RuntimeService and ImageService until interrupted."""
    import logging

    from dockyard.cri.server import serve

    logging.basicConfig(level=logging.DEBUG if obj.log_level == "debug" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = obj.engine
    listen = listen or (engine.config.get("cri") or {}).get("listen") or f"unix://{engine.run_dir}/cri.sock"
    serve(engine, listen, ready=lambda: click.echo(f"CRI serving on {listen}", err=True))


def register(cli: click.Group) -> None:
    cli.add_command(cri)
