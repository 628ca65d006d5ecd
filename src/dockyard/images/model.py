"""The image record: what the store knows about one image, independent of any front end."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Image:
    id: str                       # config digest, Docker's image ID
    manifest_digest: str
    manifest_media_type: str
    created: float                # when it entered this store
    size: int                     # unpacked size of all its layers
    tags: list[str] = field(default_factory=list)          # fully qualified references
    repo_digests: list[str] = field(default_factory=list)  # repository@digest

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]
