"""Base images from the hub itself: a build's `FROM busybox` is looked up in the hub's `library/`.

Before a build, every FROM of the Dockerfile that names an image of the default registry
(`busybox`, `debian:bookworm`, `team/base:1`) is looked up in the hub's own repositories
(`library/busybox:latest`, `library/debian:bookworm`, `team/base:1`). What the hub holds is
loaded into the build engine's root under the familiar name unless that root already has that
very image, so the builder uses it instead of pulling; what it does not hold is left to the
engine's registries. `hub library bootstrap` and a plain push to `library/NAME` fill it.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.hub.builds import engine
from dockyard.registry import errors as registry_errors
from dockyard.registry.storage import RegistryStorage

DEFAULT_DOMAIN = "docker.io"
OCI_LAYOUT = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()


@dataclass(frozen=True)
class Base:
    name: str  # as the Dockerfile writes it, expanded: busybox, debian:bookworm
    full: str  # docker.io/library/busybox:latest
    repo: str  # the hub repository it is looked up in: library/busybox
    reference: str  # tag or digest there


def bases(dockerfile: str, build_args: Mapping[str, str]) -> list[Base]:
    """The default-registry images the Dockerfile's stages start from (not scratch, not other stages)."""
    from dockyard.builder.argscope import meta_args, stage_base
    from dockyard.builder.dockerfile import parse
    from dockyard.oci.reference import parse_normalized

    try:
        parsed = parse(dockerfile)
    except InvalidArgument:
        return []  # the build reports the Dockerfile's error with its line
    meta = meta_args(parsed, build_args)
    out: list[Base] = []
    stages: set[str] = set()
    for stage in parsed.stages:
        name, _ = stage_base(stage, meta, parsed.escape)
        if name.lower() not in stages and name != "scratch":
            try:
                ref = parse_normalized(name).with_default_tag()
            except InvalidArgument:
                ref = None
            if ref is not None and ref.domain == DEFAULT_DOMAIN and all(b.full != str(ref) for b in out):
                out.append(Base(name, str(ref), ref.path, ref.digest or ref.tag))
        if stage.name:
            stages.add(stage.name)
    return out


def library_name(name: str) -> str:
    """`busybox` -> `library/busybox`: the hub repository a short name is looked up in."""
    return name if "/" in name else f"library/{name}"


def export(storage: RegistryStorage, repo: str, reference: str, name: str, out: Path) -> str:
    """Write the hub's `repo:reference` as an OCI layout tar whose image is named `name`; returns its config digest."""
    stored = storage.get_manifest(repo, reference)
    doc = json.loads(stored.data)
    if "config" not in doc:
        raise InvalidArgument(f"{repo}:{reference} is an index; the hub's library needs single-platform images")
    with tarfile.open(out, "w") as tar:
        def add(member: str, data: bytes | None = None, digest: str | None = None) -> None:
            info = tarfile.TarInfo(member)
            info.mode = 0o644
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.size = storage.blobs.size(digest)
                with storage.blobs.open(digest) as f:
                    tar.addfile(info, f)

        add("oci-layout", OCI_LAYOUT)
        for desc in [doc["config"], *doc.get("layers", [])]:
            add("blobs/" + desc["digest"].replace(":", "/"), digest=desc["digest"])
        add("blobs/" + stored.digest.replace(":", "/"), stored.data)
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": stored.media_type, "digest": stored.digest, "size": len(stored.data),
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}}]}
        add("index.json", json.dumps(index).encode())
    return doc["config"]["digest"]


def hub_image(storage: RegistryStorage, base: Base) -> str | None:
    """The image ID (config digest) of the hub's copy of `base`, if it has a single-platform one."""
    try:
        doc = json.loads(storage.get_manifest(base.repo, base.reference).data)
    except (registry_errors.RegistryError, ValueError):
        return None
    config = doc.get("config") if isinstance(doc, dict) else None
    return config.get("digest") if isinstance(config, dict) else None


def engine_has(engine_root: Path, base: Base, image_id: str | None = None) -> bool:
    """Whether the build engine's root has `base` (as image `image_id`, when given)."""
    found = engine.image_id(engine_root, base.full)
    return found is not None and (image_id is None or found == image_id)


def missing_hint(names: list[str]) -> str:
    """The one line a build whose base images are nowhere gets."""
    first = names[0].split(":")[0].split("@")[0]
    how = (f"`dockyard hub library bootstrap {first}`" if first in ("busybox", "debian")
           else f"`dockyard hub library bootstrap busybox|debian:SUITE`")
    return (f"base image {', '.join(names)} is not in the hub's library: add it with {how} "
            f"or push it to {library_name(first.split(':')[0])} on this hub")
