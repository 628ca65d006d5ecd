"""Pull and push whole images: the registry transfer plus the image service's bookkeeping.

`pull`/`push` move blobs; every front end (the CLI, the Engine API, the builder's FROM)
also needs the image registered and tagged, the repo digest recorded, and docker's closing
lines (`Digest: ...`, `Status: ...`). They all come through here so they behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

from dockyard.distribution.progress import Progress
from dockyard.errors import NotFound
from dockyard.oci.reference import Reference, parse

if TYPE_CHECKING:
    from dockyard.distribution.compress import Compression
    from dockyard.distribution.credentials import Credentials


@dataclass(frozen=True)
class Pulled:
    image: object          # dockyard.images.model.Image
    digest: str            # the manifest (or index) digest the registry knows it by
    up_to_date: bool       # the tag already named this image before the pull

    def status(self, ref: Reference) -> str:
        what = "Image is up to date" if self.up_to_date else "Downloaded newer image"
        return f"Status: {what} for {ref.familiar}"


@dataclass(frozen=True)
class Pushed:
    ref: Reference
    digest: str
    size: int


def pull_image(images, ref: Reference, *, platform: str | None = None, progress: Progress | None = None,
               credentials: Credentials | None = None, insecure_registries: Sequence[str] = (),
               may_fork: bool = False, mirrors: Sequence[str] = ()) -> Pulled:
    """Download `ref` into `images` (an ImageService), register it, tag it, record its repo digest.
    `credentials`, when given, replace the stored ones (an API client's own login); the default
    registry's images come through `mirrors` first (daemon.json registry-mirrors).

    `may_fork`: no other thread of this process holds a lock that a forked child applying a
    layer would need (true of the CLI), so layers may be unpacked by such children."""
    from dockyard.distribution.mirrors import through_mirrors
    from dockyard.distribution.pull import pull

    before = images.find(str(ref))
    with images.adding(), images.layer_streams(forked=may_fork) as streams:
        res = through_mirrors(ref, mirrors, insecure_registries, lambda where, insecure: pull(
            where, images.content, platform=platform, progress=progress, credentials=credentials,
            insecure_registries=insecure, layer_sinks=streams.sinks))
        digest = res.index_digest or res.manifest_digest
        repo_digest = Reference(ref.domain, ref.path, "", digest)
        img = images.add_image(res.manifest_digest, [ref] if ref.tag else [], repo_digest=repo_digest,
                               streamed=streams)
        if ref.tag:
            from dockyard.images.indexes import record
            record(images, [ref], res.index_digest)
    images.events.emit("image", "pull", ref.familiar, name=ref.familiar)
    return Pulled(img, digest, before is not None and before.id == img.id)


def pull_all_tags(images, ref: Reference, *, progress_for, platform: str | None = None,
                  credentials: Credentials | None = None, insecure_registries: Sequence[str] = (),
                  may_fork: bool = False, mirrors: Sequence[str] = ()) -> Iterator[tuple[Reference, Pulled]]:
    """`pull --all-tags`: every tag of `ref`'s repository, one after another as dockerd does,
    yielded as each is pulled; `progress_for(tag_ref)` is each pull's progress context."""
    from dockyard.distribution.mirrors import through_mirrors
    from dockyard.distribution.tags import list_tags

    tags = through_mirrors(ref, mirrors, insecure_registries, lambda where, insecure: list_tags(
        where, credentials=credentials, insecure_registries=insecure))
    if not tags:
        raise NotFound(f"repository {ref.repository} has no tags")
    for tag in tags:
        tag_ref = Reference(ref.domain, ref.path, tag)
        with progress_for(tag_ref) as progress:
            pulled = pull_image(images, tag_ref, platform=platform, progress=progress, credentials=credentials,
                                insecure_registries=insecure_registries, may_fork=may_fork, mirrors=mirrors)
        yield tag_ref, pulled


def push_refs(images, ref: Reference, all_tags: bool) -> list[Reference]:
    """The local tags a `push` of `ref` sends; NotFound (docker's words) when there are none."""
    if all_tags:
        refs = [parse(t) for t in sorted({t for img in images.list() for t in img.tags})
                if parse(t).repository == ref.repository]
    else:
        refs = [ref.with_default_tag()]
    if not refs or not all_tags and images.find(str(refs[0])) is None:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_repository}")
    return refs


def push_image(images, ref: Reference, *, progress: Progress | None = None, credentials: Credentials | None = None,
               insecure_registries: Sequence[str] = (), compression: Compression | None = None,
               docker_types: bool = False) -> Pushed:
    """Upload the local image tagged `ref`, mounting layers from repositories it came from;
    layers stored uncompressed go compressed (`compression`, gzip by default: compress.py);
    `docker_types` sends a single-platform image with Docker's schema2 media types."""
    from dockyard.distribution.compress import Compression, docker_media_types, for_push
    from dockyard.distribution.push import push
    from dockyard.images.indexes import complete_index

    img = images.get(str(ref))
    mount_from = [rd.split("@")[0] for rd in img.repo_digests] + [t.rsplit(":", 1)[0] for t in img.tags]
    with images.adding():  # the compressed blobs stay until the push has sent them
        # a multi-platform tag pushes its whole index when every platform of it is here
        stored = complete_index(images, str(ref)) or img.manifest_digest
        manifest_digest = for_push(images.content, stored, compression or Compression())
        if docker_types:
            manifest_digest = docker_media_types(images.content, manifest_digest)
        res = push(ref, images.content, manifest_digest, progress=progress, mount_from=mount_from,
                   credentials=credentials, insecure_registries=insecure_registries)
    images.record_repo_digest(ref, res.digest, img.id)
    images.events.emit("image", "push", ref.familiar, name=ref.familiar)
    return Pushed(ref, res.digest, images.content.size(manifest_digest))
