"""Pull and push whole images: the registry transfer plus the image service's bookkeeping.

`pull`/`push` move blobs; every front end (the CLI, the Engine API, the builder's FROM)
also needs the image registered and tagged, the repo digest recorded, and docker's closing
lines (`Digest: ...`, `Status: ...`). They all come through here so they behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from dockyard.distribution.progress import Progress
from dockyard.errors import NotFound
from dockyard.oci.reference import Reference, parse

if TYPE_CHECKING:
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
               may_fork: bool = False) -> Pulled:
    """Download `ref` into `images` (an ImageService), register it, tag it, record its repo digest.
    `credentials`, when given, replace the stored ones (an API client's own login).

    `may_fork`: no other thread of this process holds a lock that a forked child applying a
    layer would need (true of the CLI), so layers may be unpacked by such children."""
    from dockyard.distribution.pull import pull

    before = images.find(str(ref))
    with images.adding(), images.layer_streams(forked=may_fork) as streams:
        res = pull(ref, images.content, platform=platform, progress=progress, credentials=credentials,
                   insecure_registries=insecure_registries, layer_sinks=streams.sinks)
        digest = res.index_digest or res.manifest_digest
        repo_digest = Reference(ref.domain, ref.path, "", digest)
        img = images.add_image(res.manifest_digest, [ref] if ref.tag else [], repo_digest=repo_digest,
                               streamed=streams)
        if ref.tag:
            from dockyard.images.indexes import record
            record(images, [ref], res.index_digest)
    images.events.emit("image", "pull", ref.familiar, name=ref.familiar)
    return Pulled(img, digest, before is not None and before.id == img.id)


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
               insecure_registries: Sequence[str] = ()) -> Pushed:
    """Upload the local image tagged `ref`, mounting layers from repositories it came from."""
    from dockyard.distribution.push import push
    from dockyard.images.indexes import complete_index

    img = images.get(str(ref))
    mount_from = [rd.split("@")[0] for rd in img.repo_digests] + [t.rsplit(":", 1)[0] for t in img.tags]
    # a multi-platform tag pushes its whole index when every platform of it is here
    res = push(ref, images.content, complete_index(images, str(ref)) or img.manifest_digest, progress=progress,
               mount_from=mount_from, credentials=credentials, insecure_registries=insecure_registries)
    images.record_repo_digest(ref, res.digest, img.id)
    images.events.emit("image", "push", ref.familiar, name=ref.familiar)
    return Pushed(ref, res.digest, images.content.size(res.digest))
