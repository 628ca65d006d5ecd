"""What the web pages show about repositories and images, read from the registry's storage.

Manifests and configs are content-addressed, so what is parsed from them is cached by digest
for the life of the process and never goes stale; so is what a tag file holds, by its inode
and mtime. A page over 1,000 tags then costs one directory scan, 1,000 stats and dictionary
look-ups.
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dockyard.oci import mediatypes as mt
from dockyard.oci.image import chain_ids
from dockyard.registry import errors
from dockyard.registry.storage import RegistryStorage

CACHE_ENTRIES = 20000


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str
    diff_id: str
    chain_id: str


@dataclass(frozen=True)
class Image:
    """One manifest: an image, or an index whose `children` are the per-platform images."""

    digest: str
    media_type: str
    size: int  # manifest + config + layers as stored (what a pull downloads)
    architecture: str = ""
    os: str = ""
    created: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # the `config` section: Cmd, Env, Labels...
    history: tuple[dict, ...] = ()
    layers: tuple[Layer, ...] = ()
    children: tuple[tuple[str, str], ...] = ()  # (platform, digest) of an index

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES


@dataclass(frozen=True)
class Tag:
    name: str
    image: Image
    pushed: float  # when the tag last moved (mtime of its link)


@dataclass(frozen=True)
class RepoSummary:
    name: str
    tags: int
    pushed: float


def _platform(p: dict) -> str:
    text = f"{p.get('os', '?')}/{p.get('architecture', '?')}"
    return f"{text}/{p['variant']}" if p.get("variant") else text


class Catalog:
    def __init__(self, storage: RegistryStorage) -> None:
        self.storage = storage
        self._images: OrderedDict[str, Image] = OrderedDict()
        self._tag_files: dict[str, tuple[tuple[int, int], str]] = {}

    def repositories(self) -> list[RepoSummary]:
        out = []
        for name in self.storage.repositories():
            tags_dir = self.storage.repo_dir(name) / "_manifests" / "tags"
            try:
                stamps = [e.stat().st_mtime for e in os.scandir(tags_dir) if not e.name.startswith(".")]
            except FileNotFoundError:
                stamps = []
            out.append(RepoSummary(name, len(stamps), max(stamps, default=0.0)))
        return out

    def tags(self, repo: str) -> list[Tag]:
        """Every tag of `repo` with its image, newest push first; NAME_UNKNOWN if there is no such repository."""
        if not self.storage.repo_exists(repo):
            raise errors.name_unknown(detail={"name": repo})
        out = []
        try:  # one directory scan; a tag is a file holding its digest, its mtime when it last moved
            entries = [e for e in os.scandir(self.storage.repo_dir(repo) / "_manifests" / "tags")
                       if not e.name.startswith(".")]
        except FileNotFoundError:
            entries = []
        for entry in entries:
            try:  # a cached digest needs no resolving: deleting a manifest deletes its tags
                st = entry.stat()
                digest = self._tag_digest(entry.path, st)
                image = self._images.get(digest) or self.image(repo, digest)
            except (errors.RegistryError, FileNotFoundError, UnicodeDecodeError):
                continue  # deleted while we looked
            out.append(Tag(entry.name, image, st.st_mtime))
        out.sort(key=lambda t: (-t.pushed, t.name))
        return out

    def _tag_digest(self, path: str, st: os.stat_result) -> str:
        """The digest in a tag file, read once per version of it (a tag moves by a new file: a new inode)."""
        key = (st.st_ino, st.st_mtime_ns)
        known = self._tag_files.get(path)
        if known is not None and known[0] == key:
            return known[1]
        with open(path, "rb") as f:
            digest = f.read().decode()
        if len(self._tag_files) > CACHE_ENTRIES:
            self._tag_files.clear()
        self._tag_files[path] = (key, digest)
        return digest

    def image(self, repo: str, reference: str) -> Image:
        """The image a tag or digest names in `repo`; MANIFEST_UNKNOWN if none."""
        digest = self.storage.resolve(repo, reference)
        cached = self._images.get(digest)
        if cached is not None:
            return cached
        stored = self.storage.get_manifest(repo, digest)
        image = self._read(repo, digest, stored.media_type, json.loads(stored.data), len(stored.data))
        self._images[digest] = image
        if len(self._images) > CACHE_ENTRIES:
            self._images.popitem(last=False)
        return image

    def _read(self, repo: str, digest: str, media_type: str, doc: dict, size: int) -> Image:
        if media_type in mt.INDEXES:
            children = tuple((_platform(m.get("platform") or {}), m["digest"]) for m in doc.get("manifests", []))
            archs = ", ".join(sorted({p.split("/")[1] for p, _ in children}))
            return Image(digest, media_type, size + sum(m.get("size", 0) for m in doc.get("manifests", [])),
                         architecture=archs, children=children)
        config_desc = doc.get("config") or {}
        try:
            cfg = json.loads(self.storage.blobs.read(config_desc["digest"]))
        except (KeyError, ValueError, OSError):
            cfg = {}
        if not isinstance(cfg, dict):
            cfg = {}
        diff_ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
        chains = chain_ids(diff_ids)
        layers = []
        for i, layer in enumerate(doc.get("layers") or []):
            diff_id = diff_ids[i] if i < len(diff_ids) else layer["digest"]
            chain = chains[i] if i < len(chains) else layer["digest"]
            layers.append(Layer(layer["digest"], int(layer.get("size", 0)), layer.get("mediaType", ""), diff_id, chain))
        total = size + int(config_desc.get("size", 0)) + sum(layer.size for layer in layers)
        history = tuple(h for h in cfg.get("history") or [] if isinstance(h, dict))
        return Image(digest, media_type, total, str(cfg.get("architecture", "")), str(cfg.get("os", "")),
                     str(cfg.get("created", "")), cfg.get("config") or {}, history, tuple(layers))


def created_text(created: str) -> str:
    """An image's RFC 3339 `created` as `2024-05-01 12:00 UTC`; the raw text if it does not parse."""
    try:  # Go writes nanoseconds, which fromisoformat in 3.11 refuses: drop the fraction
        when = datetime.fromisoformat(re.sub(r"\.\d+", "", created))
    except ValueError:
        return created
    if when.tzinfo is None:
        return when.strftime("%Y-%m-%d %H:%M")
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
