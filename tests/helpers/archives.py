"""Hand-made image archives in the formats other tools write, for load tests."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def config_for(layers: list[bytes], cmd: list[str] | None = None) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": cmd or ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(l) for l in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))],
    }, sort_keys=True).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def classic_docker_archive(layers: list[bytes], repo_tags: list[str], *, manifest: bytes | None = None,
                           config: bytes | None = None) -> bytes:
    """The pre-25 `docker save` layout: <id>/layer.tar, <id>/json, <id>/VERSION, <hex>.json, manifest.json, repositories."""
    config = config or config_for(layers)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        names, parent = [], ""
        for layer in layers:
            lid = sha((parent + sha(layer)).encode())
            _add(tar, f"{lid}/VERSION", b"1.0")
            _add(tar, f"{lid}/json", json.dumps({"id": lid, **({"parent": parent} if parent else {})}).encode())
            _add(tar, f"{lid}/layer.tar", layer)
            names.append(f"{lid}/layer.tar")
            parent = lid
        _add(tar, f"{sha(config)}.json", config)
        if manifest is None:
            manifest = json.dumps([{"Config": f"{sha(config)}.json", "RepoTags": repo_tags, "Layers": names}]).encode()
        _add(tar, "manifest.json", manifest)
        repos: dict = {}
        for t in repo_tags:
            r, tag = t.rsplit(":", 1)
            repos.setdefault(r, {})[tag] = parent
        _add(tar, "repositories", json.dumps(repos).encode())
    return buf.getvalue()
