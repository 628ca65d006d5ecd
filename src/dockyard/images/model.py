"""The image record: what the store knows about one image, independent of any front end."""

from __future__ import annotations

from dockyard.plainclass import Factory, plainclass


@plainclass
class Image:
    id: str                       # config digest, Docker's image ID
    manifest_digest: str
    manifest_media_type: str
    created: float                # when it entered this store
    size: int                     # unpacked size of all its layers
    tags: list[str] = Factory(list)          # fully qualified references
    repo_digests: list[str] = Factory(list)  # repository@digest

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]
