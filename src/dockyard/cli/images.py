"""Image commands: images, inspect, tag, rmi, history, import, save, load, image prune/bootstrap/tree."""

from __future__ import annotations

import sys

import click

from dockyard.cli.formatting import go_time
from dockyard.cli.imagetable import since
from dockyard.cli.options import confirm, emit, filter_option, format_option, parse_filters

HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT"}


@click.command("images", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("reference", required=False)
@click.option("--all", "-a", "all_", is_flag=True, help="Show all images (default hides intermediate images).")
@click.option("--quiet", "-q", is_flag=True, help="Only show image IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--tree", is_flag=True, help="List each image's platforms (multi-platform images) beneath it.")
@filter_option
@format_option
@click.pass_obj
def images_cmd(obj, reference, all_, quiet, digests, no_trunc, tree, filters, fmt) -> None:
    """List images."""
    from dockyard.cli.imagetable import images_text
    from dockyard.images.rows import summary_rows
    from dockyard.images.service import ref_matches

    eng = obj.engine
    flt = parse_filters(filters)
    if reference:
        flt.setdefault("reference", []).append(reference)
    if tree:
        emit(_tree(eng, eng.images.list(filters=flt)))
        return
    patterns = flt.get("reference", [])
    rows = [r for img in eng.images.list(filters=flt) for r in summary_rows(img, eng.images.config(img))
            if not patterns or any(ref_matches(f"{r['Repository']}:{r['Tag']}", p) for p in patterns)]
    emit(images_text(rows, quiet=quiet, no_trunc=no_trunc, digests=digests, fmt=fmt))


def _tree(eng, images) -> str:
    """`images --tree` as docker 28 prints it: each image's tags, then its platforms beneath."""
    from dockyard.cli.formatting import human_size
    from dockyard.images.views import manifest_summaries
    from dockyard.oci.platform import of_document
    from dockyard.oci.reference import parse

    blocks = []
    for img in images:
        names = [parse(t).familiar for t in img.tags] or ["<untagged>"]
        children = manifest_summaries(eng.images, img)
        content = sum(c["Size"]["Content"] for c in children)
        in_use = "U" if eng.images.users(img.id) else ""
        rows = [(n, "", "", "", "") for n in names[:-1]]
        rows.append((names[-1], img.short_id, human_size(img.size), human_size(content), in_use))
        for i, c in enumerate(children):
            branch = "└─ " if i == len(children) - 1 else "├─ "
            plat = str(of_document(c["ImageData"]["Platform"])) if "ImageData" in c else "unknown/unknown"
            used = "U" if c.get("ImageData", {}).get("Containers") else ""
            rows.append((branch + plat, c["ID"][7:19], human_size(c["Size"]["Total"]), human_size(c["Size"]["Content"]),
                         used))
        blocks.append(rows)
    width = max([len("IMAGE")] + [len(r[0]) for b in blocks for r in b]) + 3
    lines = [f"{'IMAGE':<{width}}{'ID':<15}{'DISK USAGE':>10}   {'CONTENT SIZE':>12}   EXTRA"]
    for rows in blocks:
        for name, id_, disk, content, extra in rows:
            line = f"{name:<{width}}{id_:<12}   {disk:>10}   {content:>12}   {extra:<5}" if id_ else name
            lines.append(line.rstrip())
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def inspect_images(obj, names: tuple[str, ...], fmt: str | None) -> None:
    """`inspect` of images; prints what it found, then fails for what it did not, like docker."""
    from dockyard.errors import NotFound
    from dockyard.images.views import inspect

    eng = obj.engine
    docs, missing = [], []
    for name in names:
        img = eng.images.find(name)
        if img is None:
            missing.append(name)
        else:
            docs.append(inspect(eng.images, img))
    _print_docs(docs, fmt)
    if missing:
        raise NotFound("No such image: " + ", ".join(missing))


def _print_docs(docs: list[dict], fmt: str | None) -> None:
    from dockyard.cli.formatting import inspect_text
    emit(inspect_text(docs, fmt))


@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", metavar="TEMPLATE", help="Format output using a Go template.")
@click.option("--type", "type_", type=click.Choice(["image"]), help="Only look for this type of object.")
@click.pass_obj
def image_inspect_cmd(obj, names, fmt, type_) -> None:
    """Display detailed information on one or more images."""
    inspect_images(obj, names, fmt)


@click.command("tag")
@click.argument("source")
@click.argument("target")
@click.pass_obj
def tag_cmd(obj, source, target) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    obj.engine.images.tag(source, target)


@click.command("rmi")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", "-f", is_flag=True, help="Force removal of the image.")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents.")
@click.pass_obj
def rmi_cmd(obj, names, force, no_prune) -> None:
    """Remove one or more images."""
    from dockyard.errors import DockyardError

    errors = []
    for name in names:
        try:
            for verb, what in obj.engine.images.remove(name, force=force):
                click.echo(f"{verb}: {what}")
        except DockyardError as e:
            errors.append(e)
    if errors:
        for e in errors[:-1]:
            click.echo(f"Error: {e.message}", err=True)
        raise errors[-1]


@click.command("history")
@click.argument("name")
@click.option("--human", "-H", type=bool, default=True, help="Print sizes and dates in human readable format.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--quiet", "-q", is_flag=True, help="Only show image IDs.")
@format_option
@click.pass_obj
def history_cmd(obj, name, human, no_trunc, quiet, fmt) -> None:
    """Show the history of an image."""
    from dockyard.cli.formatting import human_size, render
    from dockyard.images.views import history

    eng = obj.engine
    rows = history(eng.images, eng.images.get(name))
    if quiet:
        for r in rows:
            click.echo(r["Id"] if no_trunc or r["Id"] == "<missing>" else r["Id"][7:19])
        return
    out_rows = []
    for r in rows:
        created_by = r["CreatedBy"]
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        out_rows.append({
            "ID": r["Id"] if no_trunc or r["Id"] == "<missing>" else r["Id"][7:19],
            "CreatedSince": since(r["Created"]) if human else go_time(r["Created"]),
            "CreatedAt": go_time(r["Created"]),
            "CreatedBy": created_by,
            "Size": human_size(r["Size"]) if human else str(r["Size"]),
            "Comment": r["Comment"],
        })
    default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    out = render(fmt, out_rows, default, headers=HISTORY_HEADERS)
    emit(out)


@click.command("import")
@click.argument("source")
@click.argument("reference", required=False)
@click.option("--change", "-c", "changes", multiple=True, help="Apply Dockerfile instruction to the created image.")
@click.option("--message", "-m", default="", help="Set commit message for imported image.")
@click.option("--platform", help="Set platform if server is multi-platform capable.")
@click.pass_obj
def import_cmd(obj, source, reference, changes, message, platform) -> None:
    """Import the contents from a tarball to create a filesystem image."""
    from dockyard.builder.changes import apply_changes
    from dockyard.images.importer import import_image, open_source
    from dockyard.oci.reference import parse_normalized

    ref = parse_normalized(reference) if reference else None
    stream, name = open_source(source)
    img = import_image(obj.engine.images, stream, ref=ref, container_config=apply_changes({}, changes),
                       message=message, source_name=name)
    click.echo(img.id)


@click.command("save")
@click.argument("names", nargs=-1, required=True)
@click.option("--output", "-o", metavar="FILE", help="Write to a file, instead of STDOUT.")
@click.option("--format", "fmt", type=click.Choice(["docker", "oci"]), default="docker",
              help="docker-archive (default, what `docker save` writes) or an OCI image layout tar.")
@click.pass_obj
def save_cmd(obj, names, output, fmt) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from dockyard.errors import InvalidArgument
    from dockyard.images.archive import save, save_to_path

    eng = obj.engine
    if output:
        save_to_path(eng.images, list(names), output, fmt=fmt)
        return
    if sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    save(eng.images, list(names), sys.stdout.buffer, fmt=fmt)


@click.command("load")
@click.option("--input", "-i", "input_", metavar="FILE", help="Read from tar archive file, instead of STDIN.")
@click.option("--quiet", "-q", is_flag=True, help="Suppress the load output.")
@click.pass_obj
def load_cmd(obj, input_, quiet) -> None:
    """Load an image from a tar archive or STDIN."""
    from dockyard.errors import InvalidArgument, NotFound
    from dockyard.images.archive import load

    if input_:
        try:
            stream = open(input_, "rb")
        except FileNotFoundError:
            raise NotFound(f"open {input_}: no such file or directory") from None
    else:
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        stream = sys.stdin.buffer
    with stream:
        lines = load(obj.engine.images, stream)
    if not quiet:
        for line in lines:
            click.echo(line)


@click.command("prune")
@click.option("--all", "-a", "all_", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("--force", "-f", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Provide filter values (e.g. until=24h).")
@click.pass_obj
def image_prune_cmd(obj, all_, force, filters) -> None:
    """Remove unused images."""
    from dockyard.cli.formatting import human_size

    warning = ("WARNING! This will remove all images without at least one container associated to them."
               if all_ else "WARNING! This will remove all dangling images.")
    from dockyard import filtering
    wanted = parse_filters(filters)
    filtering.check(wanted, ("dangling", "until", "label", "label!"))
    wanted.pop("dangling", None)
    if not confirm(warning, force):
        return
    lines, freed = obj.engine.images.prune(all=all_, filters=wanted)
    if lines:
        click.echo("Deleted Images:")
        for verb, what in lines:
            click.echo(f"{verb.lower()}: {what}")
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(freed)}")


@click.command("bootstrap")
@click.argument("distro")
@click.argument("tag", required=False)
@click.option("--mirror", metavar="URL", help="Debian mirror (default: the one the host's apt uses).")
@click.option("--variant", default="minbase", show_default=True, help="debootstrap variant.")
@click.option("--arch", metavar="ARCH", help="Architecture (OCI name: amd64, arm64, arm...); another than the "
              "host's runs under QEMU user emulation.")
@click.pass_obj
def bootstrap_cmd(obj, distro, tag, mirror, variant, arch) -> None:
    """Create a base image without a registry: `busybox [TAG]` or `debian:SUITE`."""
    from dockyard.images.bootstrap import bootstrap
    from dockyard.oci.reference import parse_normalized

    name = distro.split(":", 1)[0]
    ref = parse_normalized(f"{name}:{tag}" if tag else distro)
    eng = obj.engine
    with eng.images.adding():
        digest = bootstrap(eng.content, distro, mirror=mirror, variant=variant, architecture=arch,
                           log=lambda s: click.echo(s, err=True))
        img = eng.images.add_image(digest, [ref])
    click.echo(f"{ref.familiar} {img.id}")


@click.command("tree")
@click.pass_obj
def tree_cmd(obj) -> None:
    """Draw how local images share layers."""
    from dockyard.cli.formatting import human_size
    from dockyard.images.tree import build, render

    out = render(build(obj.engine.images), human_size)
    emit(out)


def register(cli: click.Group) -> None:
    image = click.Group("image", help="Manage images.")
    ls = click.Command("ls", callback=images_cmd.callback, params=images_cmd.params, help="List images.")
    image.add_command(ls)
    image.add_command(ls, "list")
    for cmd, name in ((image_inspect_cmd, "inspect"), (rmi_cmd, "rm"), (tag_cmd, "tag"), (history_cmd, "history"),
                      (import_cmd, "import"), (save_cmd, "save"), (load_cmd, "load"), (image_prune_cmd, "prune"),
                      (bootstrap_cmd, "bootstrap"), (tree_cmd, "tree")):
        image.add_command(cmd, name)
    cli.add_command(image)
    for cmd in (images_cmd, tag_cmd, rmi_cmd, history_cmd, import_cmd, save_cmd, load_cmd):
        cli.add_command(cmd)
