"""Build a small OCI image layout by hand (busybox rootfs), as a source for skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import time
from pathlib import Path

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def _blob(layout: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _rootfs_tar(extra: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox", filter=lambda i: (setattr(i, "mtime", 0), i)[1])
        for applet in ("sh", "ls", "echo"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, "busybox", 0
            tar.addfile(info)
        info = tarfile.TarInfo("etc/marker")
        info.size, info.mtime = len(extra), 0
        tar.addfile(info, io.BytesIO(extra))
    return buf.getvalue()


def make_layout(layout: Path, tag: str = "latest", marker: bytes = b"dockyard\n") -> dict:
    """Write an OCI layout with one busybox image under `tag`; returns its manifest descriptor."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    tar = _rootfs_tar(marker)
    layer = _blob(layout, gzip.compress(tar, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(0)),
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        "history": [{"created_by": "dockyard test"}],
    }
    cfg = _blob(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    desc = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_blob(layout, json.dumps(manifest).encode()),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    return {"manifest": manifest, "descriptor": desc, "layer": layer, "config": cfg}
