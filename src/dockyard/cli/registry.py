"""`dockyard registry serve|gc`: the OCI distribution server over its own storage root."""

from __future__ import annotations

import click


def _registry_root(obj, root: str | None) -> str:
    """A registry keeps its own storage; by default beside the engine's, under <root>/registry."""
    if root:
        return root
    import os

    from dockyard.engine import defaults
    return os.path.join(obj.root or os.environ.get("DOCKYARD_ROOT") or defaults()[0], "registry")


@click.group("registry")
def registry_group() -> None:
    """Run a registry (the hub's storage) and collect its garbage."""


@registry_group.command("serve")
@click.option("--addr", default="127.0.0.1:5000", show_default=True, help="HOST:PORT to listen on (port 0: any free).")
@click.option("--root", "reg_root", metavar="DIR", help="Registry storage [<dockyard root>/registry].")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Private key for --tls-cert.")
@click.option("--auth", metavar="htpasswd:FILE|token:...", help="Require authentication.")
@click.option("--notify", multiple=True, metavar="URL", help="POST push/delete events to this webhook (repeatable).")
@click.option("--proxy-remote", metavar="URL", help="Be a pull-through cache of this registry (pushes refused).")
@click.option("--proxy-username", default="", help="Username for --proxy-remote.")
@click.option("--proxy-password", default="", help="Password for --proxy-remote.")
@click.option("--proxy-ttl", metavar="DURATION", help="Revalidate cached tags after this long (300, 10m, 168h) [0].")
@click.pass_obj
def serve_cmd(obj, addr, reg_root, tls_cert, tls_key, auth, notify, proxy_remote, proxy_username, proxy_password,
              proxy_ttl) -> None:
    """Serve the OCI distribution API until interrupted."""
    from dockyard.errors import InvalidArgument
    from dockyard.registry import serve
    from dockyard.registry.proxy import options

    if bool(tls_cert) != bool(tls_key):
        raise InvalidArgument("--tls-cert and --tls-key go together: give both or neither")
    proxy = options(proxy_remote, proxy_username, proxy_password, proxy_ttl)
    serve(addr, _registry_root(obj, reg_root), tls_cert=tls_cert, tls_key=tls_key, auth=auth, notify=list(notify),
          proxy=proxy)


@registry_group.command("gc")
@click.option("--root", "reg_root", metavar="DIR", help="Registry storage [<dockyard root>/registry].")
@click.option("--dry-run", "-d", is_flag=True, help="Only list what would be deleted.")
@click.pass_obj
def gc_cmd(obj, reg_root, dry_run) -> None:
    """Delete blobs no tagged manifest references; safe while the server runs."""
    from dockyard.cli.formatting import human_size
    from dockyard.registry import gc

    report = gc(_registry_root(obj, reg_root), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for digest in report.deleted:
        click.echo(f"{verb} {digest}")
    click.echo(f"{len(report.deleted)} blobs {verb}, {human_size(report.freed_bytes)} "
               f"{'reclaimable' if dry_run else 'freed'}; {report.marked} in use")


def register(cli: click.Group) -> None:
    cli.add_command(registry_group)
