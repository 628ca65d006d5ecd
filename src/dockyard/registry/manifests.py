"""What the registry needs to know about a pushed manifest, read from its raw bytes.

The registry stores manifests byte for byte (their digest is the hash of those bytes), but
it must understand them enough to refuse broken ones, to know which blobs and child
manifests they pin (for validation and garbage collection) and to answer the referrers API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import validate
from dockyard.registry import errors

MAX_MANIFEST_SIZE = 4 << 20
SUPPORTED = (mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()

    @property
    def foreign(self) -> bool:
        """Foreign layers live elsewhere (listed URLs); a registry need not hold them."""
        return bool(self.urls) or self.media_type == mt.DOCKER_LAYER_FOREIGN


@dataclass(frozen=True)
class Manifest:
    media_type: str
    blobs: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise errors.manifest_invalid(f"{where} is not a descriptor object")
    try:
        digest = validate(raw.get("digest"))
    except InvalidArgument as exc:
        raise errors.manifest_invalid(f"{where}: {exc.message}") from None
    size = raw.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise errors.manifest_invalid(f"{where}: size must be a non-negative integer")
    media_type = raw.get("mediaType", "")
    if not isinstance(media_type, str):
        raise errors.manifest_invalid(f"{where}: mediaType must be a string")
    urls = raw.get("urls") or ()
    return Descriptor(media_type, digest, size, tuple(urls) if isinstance(urls, list) else ())


def _descriptors(doc: dict, key: str, required: bool) -> tuple[Descriptor, ...]:
    raw = doc.get(key)
    if raw is None and not required:
        return ()
    if not isinstance(raw, list):
        raise errors.manifest_invalid(f"manifest field {key!r} must be a list")
    return tuple(_descriptor(item, f"{key}[{i}]") for i, item in enumerate(raw))


def parse(data: bytes, content_type: str | None) -> Manifest:
    """Check a manifest's structure and extract its references; raise MANIFEST_INVALID if broken."""
    if len(data) > MAX_MANIFEST_SIZE:
        raise errors.manifest_invalid(f"manifest is larger than the {MAX_MANIFEST_SIZE} byte limit", status=413)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.manifest_invalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise errors.manifest_invalid("manifest must be a JSON object")
    if doc.get("schemaVersion") != 2:
        raise errors.manifest_invalid("only schemaVersion 2 manifests are supported")
    declared = doc.get("mediaType")
    header = (content_type or "").split(";")[0].strip()
    if declared and header and header != declared and header not in ("application/json", "application/octet-stream"):
        raise errors.manifest_invalid(f"Content-Type {header} does not match the manifest's mediaType {declared}")
    media_type = declared or header
    if not declared and media_type not in (mt.OCI_MANIFEST, mt.OCI_INDEX):
        media_type = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
    if media_type not in SUPPORTED:
        raise errors.manifest_invalid(f"unsupported manifest media type {media_type!r}")

    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = doc.get("artifactType") or ""
    annotations = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else {}
    if media_type in mt.INDEXES:
        return Manifest(
            media_type,
            children=_descriptors(doc, "manifests", required=True),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "config" not in doc:
        raise errors.manifest_invalid("image manifest has no config descriptor")
    config = _descriptor(doc["config"], "config")
    layers = _descriptors(doc, "layers", required=media_type == mt.DOCKER_MANIFEST)
    return Manifest(
        media_type,
        blobs=(config, *layers),
        subject=subject,
        # OCI 1.1: an image manifest's artifact type defaults to its config media type.
        artifact_type=artifact_type or config.media_type,
        annotations=annotations,
    )


def parse_stored(data: bytes, media_type: str) -> Manifest | None:
    """Parse a manifest the registry already accepted (for GC); None if it no longer parses."""
    try:
        return parse(data, media_type)
    except errors.RegistryError:
        return None
