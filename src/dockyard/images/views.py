"""Docker-shaped views of an image: `image inspect`, `history`, its platforms (the rows of `images` are rows.py's).

Shared by the CLI and the Engine API so both print exactly what Docker users parse.
"""

from __future__ import annotations

from dockyard.images.model import Image
from dockyard.images.rows import created_epoch
from dockyard.images.service import ImageService
from dockyard.oci.image import chain_id
from dockyard.oci.reference import parse

_CONFIG_DEFAULTS = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}


def layers(images: ImageService, image: Image) -> list[tuple[str, int]]:
    """(chain ID, unpacked size) of each of the image's layers, bottom first."""
    parent, out = "", []
    for d in images.config(image)["rootfs"]["diff_ids"]:
        parent = chain_id(parent, d)
        snap = images.snapshots.get(parent)
        out.append((parent, snap.size if snap else 0))
    return out


def layer_sizes(images: ImageService, image: Image) -> list[int]:
    return [size for _, size in layers(images, image)]


def inspect(images: ImageService, image: Image) -> dict:
    cfg = images.config(image)
    top = images.top_layer(image)
    graph = {}
    if top and images.snapshots.get(top):
        lowers = [str(images.snapshots.root / s.dir / "fs") for s in images.snapshots.chain(top)]
        graph = {"MergedDir": "", "UpperDir": lowers[0], "LowerDir": ":".join(lowers[1:]), "WorkDir": ""}
    return {
        "Id": image.id,
        "RepoTags": [parse(t).familiar for t in image.tags],
        "RepoDigests": [parse(r).familiar for r in image.repo_digests],
        "Parent": images.parent(image.id),
        "Comment": (cfg.get("history") or [{}])[-1].get("comment", "") if cfg.get("history") else "",
        "Created": cfg.get("created", ""),
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": {**_CONFIG_DEFAULTS, **(cfg.get("config") or {})},
        "Architecture": cfg.get("architecture", ""),
        **({"Variant": cfg["variant"]} if cfg.get("variant") else {}),
        "Os": cfg.get("os", ""),
        "Size": image.size,
        "GraphDriver": {"Data": graph, "Name": images.snapshots.name},
        "RootFS": {"Type": "layers", "Layers": list(cfg["rootfs"]["diff_ids"])},
        # dockyard keeps no time per tag: a tagged image's is when it entered this store
        "Metadata": {"LastTagTime": _go_time(image.created) if image.tags else "0001-01-01T00:00:00Z"},
    }


def _go_time(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def history(images: ImageService, image: Image) -> list[dict]:
    """Newest first, as the Engine API returns it: {Id, Created, CreatedBy, Tags, Size, Comment}."""
    cfg = images.config(image)
    sizes = iter(layer_sizes(images, image))
    rows = []
    entries = cfg.get("history") or [{"created": cfg.get("created")} for _ in cfg["rootfs"]["diff_ids"]]
    for h in entries:
        size = 0 if h.get("empty_layer") else next(sizes, 0)
        rows.append({"Id": "<missing>", "Created": created_epoch(h.get("created")), "CreatedBy": h.get("created_by", ""),
                     "Tags": None, "Size": size, "Comment": h.get("comment", "")})
    rows.reverse()
    if rows:
        rows[0]["Id"] = image.id
        rows[0]["Tags"] = [parse(t).familiar for t in image.tags] or None
    return rows


def manifest_summaries(images: ImageService, image: Image) -> list[dict]:
    """The Engine API's `Manifests` of an image summary (1.47, `manifests=1`): each platform of
    the index one of its tags names (available or not), else its own manifest alone."""
    from dockyard.images.indexes import children, index_digest
    from dockyard.oci.platform import of_document

    index = next((d for d in (index_digest(images, t) for t in image.tags) if d), None)
    if index is None:
        raw_size = images.content.size(image.manifest_digest)
        own = {"mediaType": image.manifest_media_type, "digest": image.manifest_digest, "size": raw_size,
               "platform": of_document(images.config(image)).as_dict()}
        return [_manifest_summary(images, own, image)]
    return [_manifest_summary(images, child.descriptor, child.image, child.attestation)
            for child in children(images, index)]


def _manifest_summary(images: ImageService, descriptor: dict, image: Image | None, attestation: bool = False) -> dict:
    content = 0
    if image is not None:
        man = images.manifest(image)
        content = sum(d["size"] for d in [*man["layers"], man["config"]]) + descriptor.get("size", 0)
    out = {"ID": descriptor["digest"], "Descriptor": descriptor, "Available": image is not None,
           "Size": {"Total": content + (image.size if image else 0), "Content": content},
           "Kind": "attestation" if attestation else "image"}
    if attestation:
        out["AttestationData"] = {"For": (descriptor.get("annotations") or {}).get("vnd.docker.reference.digest", "")}
    else:
        out["ImageData"] = {"Platform": descriptor.get("platform") or {},
                            "Containers": images.users(image.id) if image else [],
                            "Size": {"Unpacked": image.size if image else 0}}
    return out
