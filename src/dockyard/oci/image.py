"""Image config, manifest and index documents (OCI 1.1 / Docker schema2) and the IDs derived from them.

Documents are plain dicts, exactly as they travel over the wire, so that their digests stay
what the bytes say; these helpers build them canonically and read the fields everyone needs.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable

from dockyard.errors import CorruptContent
from dockyard.oci import mediatypes as mt


# Field order of the OCI image-spec Go structs (Docker-only fields after them, in Docker's order).
# Tools that re-marshal a config (skopeo converting docker-archive to OCI) write this order, so
# writing it ourselves keeps the bytes, and the image ID, the same across such a conversion.
_IMAGE_ORDER = ("created", "author", "architecture", "os", "os.version", "os.features", "variant",
                "config", "rootfs", "history")
_CONFIG_ORDER = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
                 "StopSignal", "ArgsEscaped", "Healthcheck", "OnBuild", "StopTimeout", "Shell")
_ROOTFS_ORDER = ("type", "diff_ids")
_HISTORY_ORDER = ("created", "created_by", "author", "comment", "empty_layer")


def _ordered(d: dict, order: tuple[str, ...]) -> dict:
    out = {k: d[k] for k in order if k in d}
    out.update((k, d[k]) for k in sorted(d) if k not in out)
    return out


def order_config(cfg: dict) -> dict:
    """An image config with its keys in the OCI Go structs' order (see `_IMAGE_ORDER`)."""
    out = _ordered(cfg, _IMAGE_ORDER)
    if isinstance(out.get("config"), dict):
        out["config"] = _ordered(out["config"], _CONFIG_ORDER)
    if isinstance(out.get("rootfs"), dict):
        out["rootfs"] = _ordered(out["rootfs"], _ROOTFS_ORDER)
    if isinstance(out.get("history"), list):
        out["history"] = [_ordered(h, _HISTORY_ORDER) if isinstance(h, dict) else h for h in out["history"]]
    return out


def canonical_json(doc: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (key order kept, <, > and & escaped), so
    documents we write hash the same as when Go tools write them."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode()


def loads_document(data: bytes, what: str) -> dict:
    """Parse a JSON document from a blob or archive, failing with one clear line."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptContent(f"{what} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise CorruptContent(f"{what} must be a JSON object")
    return doc


def chain_id(parent: str, diff_id: str) -> str:
    """OCI ChainID: identifies a stack of layers, so equal stacks share one snapshot."""
    if not parent:
        return diff_id
    import hashlib  # not loaded for a single layer's chain (~2 ms)

    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    out: list[str] = []
    for d in diff_ids:
        out.append(chain_id(out[-1] if out else "", d))
    return out


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def host_platform() -> dict:
    """The platform images are built for and pulled as on this machine, as an OCI platform object."""
    from dockyard.oci.platform import host_platform as host
    return host().as_dict()


def new_config(
    diff_ids: list[str],
    *,
    container_config: dict | None = None,
    history: list[dict] | None = None,
    created: str | None = None,
    platform: dict | None = None,
) -> dict:
    """An image config as Docker writes it (architecture, os, config, rootfs, history), for
    `platform` ({os, architecture[, variant]}; default: this machine's)."""
    plat = platform or host_platform()
    cfg: dict[str, Any] = {
        "architecture": plat["architecture"],
        "os": plat["os"],
        "created": created or now_rfc3339(),
        "config": container_config or {},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": history or [],
    }
    if plat.get("variant"):
        cfg["variant"] = plat["variant"]
    return order_config(cfg)


def descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict:
    d = {"mediaType": media_type, "digest": digest, "size": size}
    d.update({k: v for k, v in extra.items() if v})
    return d


def new_manifest(config_desc: dict, layer_descs: list[dict], *, docker: bool = False) -> dict:
    """An image manifest; `docker=True` gives schema2 media types, which older registries expect."""
    return {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
    }


def validate_config(cfg: dict, what: str = "image config") -> dict:
    rootfs = cfg.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise CorruptContent(f"{what} has no rootfs.diff_ids list")
    if not all(isinstance(d, str) and d.startswith("sha256:") for d in rootfs["diff_ids"]):
        raise CorruptContent(f"{what} has a malformed diff_id")
    return cfg


def validate_manifest(man: dict, what: str = "manifest") -> dict:
    if man.get("schemaVersion") != 2:
        raise CorruptContent(f"{what} has schemaVersion {man.get('schemaVersion')!r}; only 2 is supported")
    cfg = man.get("config")
    layers = man.get("layers")
    if not isinstance(cfg, dict) or not isinstance(layers, list):
        raise CorruptContent(f"{what} lacks a config descriptor or a layers list")
    for d in [cfg, *layers]:
        if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or not isinstance(d.get("size"), int):
            raise CorruptContent(f"{what} has a malformed descriptor: {d!r}")
    return man
