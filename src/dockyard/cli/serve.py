"""`dockyard serve`: the Docker Engine API over this root, for the docker CLI and docker-py."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", "-H", "hosts", multiple=True, metavar="ADDR",
              help="unix:///PATH or tcp://HOST:PORT to listen on (repeatable) [unix:///run/dockyard.sock; rootless: unix://$XDG_RUNTIME_DIR/dockyard.sock].")
@click.option("--tlsverify", is_flag=True, help="Require client certificates signed by --tlscacert.")
@click.option("--tlscert", metavar="FILE", help="Server certificate.")
@click.option("--tlskey", metavar="FILE", help="Server private key.")
@click.option("--tlscacert", metavar="FILE", help="CA that signs client certificates.")
@click.option("--group", "-G", metavar="NAME", help="Group owning unix sockets [docker, if it exists].")
@click.pass_obj
def serve_cmd(obj, hosts, tlsverify, tlscert, tlskey, tlscacert, group) -> None:
    """Serve the Docker Engine API (v1.24 to v1.47) until interrupted."""
    import logging

    from dockyard.api.server import TLSOptions, serve

    logging.basicConfig(level=logging.DEBUG if obj.log_level == "debug" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(obj.engine, list(hosts) or [_default_host()],
          TLSOptions(tlscert, tlskey, tlscacert, tlsverify), group)


def _default_host() -> str:
    from dockyard import rootless

    if rootless.active():
        from dockyard.rootless import paths
        return f"unix://{paths.api_socket()}"
    return "unix:///run/dockyard.sock"


def register(cli: click.Group) -> None:
    cli.add_command(serve_cmd)
