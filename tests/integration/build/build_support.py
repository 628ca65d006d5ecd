"""Helpers for build tests: write a context, build it with plain progress, read files of the result."""

from __future__ import annotations

import os
from pathlib import Path


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, body in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body if isinstance(body, bytes) else body.encode())
    return root


def build(dy, ctx: Path, *args: str, check: bool = True):
    return dy("build", "--progress", "plain", *args, str(ctx), check=check)


def image_file(dy, ref: str, path: str) -> Path | None:
    """The file at `path` in the image, found by looking through its layers top down."""
    eng = dy.engine()
    top = eng.images.top_layer(eng.images.get(ref))
    for snap in eng.snapshots.chain(top):
        p = eng.snapshots.fs(snap.key) / path.lstrip("/")
        if os.path.lexists(p):
            return p
    return None


def image_config(dy, ref: str) -> dict:
    eng = dy.engine()
    return eng.images.config(eng.images.get(ref))


def store_state(dy) -> tuple[str, list[str], list[str]]:
    """What a failed build must not change: the image list, blobs and snapshots."""
    blobs = sorted(os.listdir(dy.root / "blobs" / "sha256")) if (dy.root / "blobs" / "sha256").exists() else []
    snaps = sorted(os.listdir(dy.root / "snapshots"))
    return dy("images", "-a", "--no-trunc").out, blobs, snaps
