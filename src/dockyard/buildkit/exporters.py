"""A Control.Solve's exporters: what becomes of the built image, as BuildKit's exporters do it.

- `moby`/`image`: the image tagged in the engine's store under every `name` (comma-separated);
  `push=true` uploads each name with the client's registry login, with Docker's schema2 media
  types unless `oci-mediatypes=true` (or a zstd `compression`, which only OCI can say);
  `compression`, `compression-level`, `force-compression` shape the pushed layers. `unpack` is
  always true here (the store keeps images unpacked).
- `docker`, `oci`: the image as a docker-archive (what `docker save` writes) or an OCI layout
  tarball, streamed to the client's session (moby.filesync.v1.FileSend/DiffCopy, BytesMessage
  chunks, the exporter's response in `exporter-md-*` headers).
- `tar`: the image's root filesystem as a tar, streamed the same way.
- `local`: the root filesystem copied into the client's directory (fsutil's DiffCopy packets
  over FileSend/DiffCopy, the engine sending).

Each output names its exporter by its index in the Solve's list, as BuildKit does.

Cache exports: dockyard's cache travels as images. Every image it builds carries what a later
build needs to reuse its steps (its history and layers), so `type=inline` asks for nothing
more; `type=registry,ref=R` pushes the built image to R (OCI media types unless
oci-mediatypes=false), which a later build imports with `--cache-from type=registry,ref=R`;
`type=local,dest=DIR` writes its blobs into the client's content store for DIR
(contentstore.py). `mode=max` exports what `mode=min` does: the target stage's steps.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.buildkit.h2grpc import GrpcError, INVALID_ARGUMENT, UNIMPLEMENTED, UNKNOWN
from dockyard.buildkit.status import as_vertex

IMAGE = ("moby", "image")
STREAMED = ("docker", "oci", "tar", "local")
_TRUE, _FALSE = ("", "1", "t", "T", "true", "TRUE", "True"), ("0", "f", "F", "false", "FALSE", "False")
_BOOLS = ("push", "unpack", "store", "oci-mediatypes", "force-compression", "tar", "push-by-digest",
          "registry.insecure", "name-canonical", "ignore-error")


@dataclass
class Export:
    id: int        # the index of the exporter in the Solve: the client's output it writes to
    type: str
    attrs: dict[str, str]
    names: list[str] = field(default_factory=list)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.attrs.get(key)
        return default if value is None else value in _TRUE

    @property
    def oci_types(self) -> bool:
        zstd = self.attrs.get("compression") == "zstd"
        return zstd or self.flag("oci-mediatypes", default=self.type == "oci")

    def compression(self):
        """The layers' compression for a push or an OCI layout, or None to keep them as stored."""
        from dockyard.distribution.compress import Compression
        from dockyard.errors import DockyardError

        kind = self.attrs.get("compression", "")
        if not kind and "compression-level" not in self.attrs and not self.flag("force-compression"):
            return None
        level = self.attrs.get("compression-level")
        # the builder stores its layers gzip-compressed, so a request for another compression
        # recompresses them (and the base image's) as force-compression would
        force = self.flag("force-compression") or kind not in ("", "gzip")
        try:
            return Compression(kind or "gzip", int(level) if level else None, force)
        except (DockyardError, ValueError) as err:
            message = getattr(err, "message", f"invalid compression-level {level!r}")
            raise GrpcError(INVALID_ARGUMENT, message) from None


def parse_cache_exports(req) -> list[Export]:
    """The Solve's cache exports that need work (registry and local ones; inline needs none),
    once its cache imports are known to be of types dockyard reads."""
    from dockyard.buildkit.frontend import cache_not_served

    out = []
    for entry in req.Cache.Exports if req.HasField("Cache") else []:
        attrs = dict(entry.Attrs)
        if entry.Type not in ("registry", "local", "inline"):
            raise cache_not_served(entry.Type, "export")
        if entry.Type == "local":
            if not attrs.get("dest"):
                raise GrpcError(INVALID_ARGUMENT, "local cache exporter requires dest")
            out.append(Export(-1, "local-cache", attrs, [attrs["dest"]]))
        if entry.Type == "registry":
            if not attrs.get("ref"):
                raise GrpcError(INVALID_ARGUMENT, "registry cache exporter requires ref")
            _reference(attrs["ref"])
            if attrs.get("mode", "min") not in ("min", "max"):
                raise GrpcError(INVALID_ARGUMENT, f"invalid cache mode: {attrs['mode']}")
            out.append(Export(-1, "cache", attrs, [attrs["ref"]]))
    for entry in req.Cache.Imports if req.HasField("Cache") else []:
        if entry.Type not in ("registry", "local"):
            raise cache_not_served(entry.Type, "import")
    return out


def parse(req) -> list[Export]:
    """The Solve's exporters, once each is known to ask only for what dockyard serves."""
    exporters = [(e.Type, dict(e.Attrs)) for e in req.Exporters]
    if req.ExporterDeprecated and not exporters:
        exporters = [(req.ExporterDeprecated, dict(req.ExporterAttrsDeprecated))]
    out = []
    for i, (kind, attrs) in enumerate(exporters):
        if kind not in IMAGE + STREAMED:
            raise GrpcError(UNIMPLEMENTED, f"exporter {kind!r} is not served by dockyard (served: "
                                           f"{', '.join(IMAGE + STREAMED)})")
        for key in _BOOLS:  # as Go's strconv.ParseBool reads them, "" meaning true
            if attrs.get(key, "") not in _TRUE + _FALSE:
                raise GrpcError(INVALID_ARGUMENT, f"non-bool value specified for {key}")
        export = Export(i, kind, attrs, [n.strip() for n in attrs.get("name", "").split(",") if n.strip()])
        if export.flag("push-by-digest"):
            raise GrpcError(UNIMPLEMENTED, "push-by-digest is not served by dockyard: push a name")
        if kind in ("docker", "oci") and not export.flag("tar", default=True):
            raise GrpcError(UNIMPLEMENTED, f"the {kind} exporter with tar=false (into the client's content store) "
                                           "is not served by dockyard")
        if export.attrs.get("compression", "gzip") not in ("gzip", "zstd"):
            raise GrpcError(UNIMPLEMENTED, f"compression={export.attrs['compression']} is not served by dockyard "
                                           "(gzip or zstd)")
        export.compression()  # a bad level or name is refused before the build
        for name in export.names:
            _reference(name)
        out.append(export)
    return out


def _reference(name: str):
    from dockyard.errors import DockyardError
    from dockyard.oci.reference import parse_normalized

    try:
        return parse_normalized(name).with_default_tag()
    except DockyardError as err:
        raise GrpcError(INVALID_ARGUMENT, f"invalid reference format {name!r}: {err.message}") from None


async def export(engine, session, progress, image, exports: list[Export]) -> dict[str, str]:
    """Run every exporter on `image`; returns the Solve's ExporterResponse."""
    from dockyard.api.requests import blocking

    reply = {"containerimage.digest": image.id, "containerimage.config.digest": image.id}
    names = []
    for exp in exports:
        if exp.type in IMAGE:
            await _tag(engine, image, exp.names)
            names += exp.names
            if exp.flag("push"):
                await _push(engine, session, progress, image, exp)
        elif exp.type in ("docker", "oci"):
            await _archive(engine, session, progress, image, exp, reply)
        elif exp.type == "tar":
            await _rootfs_tar(engine, session, progress, image, exp)
        else:
            await _local(engine, session, progress, image, exp)
    if names:
        reply["image.name"] = ",".join(names)
    await blocking(engine.events.emit, "image", "build", image.id, name=names[0] if names else image.id)
    return reply


async def export_cache(engine, session, progress, image, exports: list[Export]) -> dict[str, str]:
    """Push the built image to each registry cache ref (untagged here), or write its blobs to
    the client's local cache directory; with ignore-error=true a failure is a warning, as in
    BuildKit. Returns what the Solve's answer gains (`cache.manifest`, for the client's
    index.json)."""
    from dockyard.api.requests import blocking
    from dockyard.distribution.compress import Compression, docker_media_types, for_push
    from dockyard.distribution.push import push
    from dockyard.errors import DockyardError

    reply = {}
    for exp in exports:
        if exp.type == "local-cache":
            reply["cache.manifest"] = await _local_cache(engine, session, progress, image, exp)
            continue
        ref = _reference(exp.names[0])
        credentials = await session.login(ref.domain)
        compression = exp.compression() or Compression()

        def upload(ref=ref, credentials=credentials, compression=compression):
            with engine.images.adding():
                digest = for_push(engine.content, image.manifest_digest, compression)
                if not exp.flag("oci-mediatypes", default=True):
                    digest = docker_media_types(engine.content, digest)
                return push(ref, engine.content, digest, credentials=credentials,
                            insecure_registries=engine.insecure_registries)

        step = progress.start(f"exporting cache to registry {ref}")
        try:
            await blocking(upload)
        except DockyardError as err:
            progress.finish(step, "done" if exp.flag("ignore-error") else "error", err.message)
            if not exp.flag("ignore-error"):
                raise GrpcError(UNKNOWN, f"failed to export cache to {ref}: {err.message}") from None
            continue
        progress.finish(step, "done")
    return reply


async def _local_cache(engine, session, progress, image, exp: Export) -> str:
    """The image's blobs into the client's content store `local:DEST`; the manifest's
    descriptor (JSON) for the client to record in DEST/index.json."""
    from dockyard.api.requests import blocking
    from dockyard.buildkit.contentstore import write_blob
    from dockyard.distribution.compress import Compression, for_push

    def manifest() -> str:
        with engine.images.adding():
            return for_push(engine.content, image.manifest_digest, exp.compression() or Compression())

    async def write() -> str:
        digest = await blocking(manifest)
        raw = engine.content.read(digest)
        doc = json.loads(raw)
        for desc in [doc["config"], *doc.get("layers", []), {"digest": digest}]:
            await write_blob(session, f"local:{exp.names[0]}", desc["digest"], engine.content.path(desc["digest"]))
        return json.dumps({"mediaType": doc.get("mediaType"), "digest": digest, "size": len(raw)})

    return await as_vertex(progress, f"exporting cache to client directory {exp.names[0]}", write())


async def _tag(engine, image, names: list[str]) -> None:
    from dockyard.api.requests import blocking
    from dockyard.errors import DockyardError

    for name in names:
        try:
            await blocking(engine.images.tag, image.id, name)
        except DockyardError as err:
            raise GrpcError(INVALID_ARGUMENT, f"failed to tag {name}: {err.message}") from None


async def _push(engine, session, progress, image, exp: Export) -> None:
    """Each name pushed, with the client's login for its registry."""
    from dockyard.api.requests import blocking
    from dockyard.distribution.images import push_image
    from dockyard.errors import DockyardError

    if not exp.names:
        raise GrpcError(INVALID_ARGUMENT, "push requires a name: set name=")
    compression = exp.compression()
    for name in exp.names:
        ref = _reference(name)
        credentials = await session.login(ref.domain)
        insecure = list(engine.insecure_registries) + ([ref.domain] if exp.flag("registry.insecure") else [])

        def push(ref=ref, credentials=credentials, insecure=insecure):
            return push_image(engine.images, ref, credentials=credentials, insecure_registries=insecure,
                              compression=compression, docker_types=not exp.oci_types)

        step = progress.start(f"pushing {ref}")
        try:
            pushed = await blocking(push)
        except DockyardError as err:
            progress.finish(step, "error", err.message)
            raise GrpcError(UNKNOWN, f"failed to push {ref}: {err.message}") from None
        progress.finish(step, "done", f"pushing manifest for {ref}@{pushed.digest} done")


async def _archive(engine, session, progress, image, exp: Export, reply: dict[str, str]) -> None:
    """The image as a docker-archive or an OCI layout, streamed to the client."""
    from dockyard.images.archive import save_built

    def manifest() -> str:
        """The manifest the layout holds ("" for docker: `save` writes its own); computed again
        where it is written, which finds the same digest (conversions are deterministic)."""
        from dockyard.distribution.compress import docker_media_types, for_push

        if exp.type == "docker":
            return ""
        digest, compression = image.manifest_digest, exp.compression()
        with engine.images.adding():
            if compression is not None:
                digest = for_push(engine.content, digest, compression)
            return digest if exp.oci_types else docker_media_types(engine.content, digest)

    def write(out) -> None:
        with engine.images.adding():
            save_built(engine.images, image, exp.names, out, fmt=exp.type, manifest=manifest())

    digest = await asyncio.get_running_loop().run_in_executor(None, manifest) or image.manifest_digest
    raw = engine.content.read(digest)
    descriptor = {"mediaType": json.loads(raw).get("mediaType"), "digest": digest, "size": len(raw)}
    meta = {"containerimage.digest": digest, "containerimage.config.digest": image.id,
            "containerimage.descriptor": base64.b64encode(json.dumps(descriptor).encode()).decode()}
    if exp.names:
        meta["image.name"] = ",".join(exp.names)
    reply.update(meta)
    await _stream(session, progress, exp, meta, write)


async def _stream(session, progress, exp: Export, meta: dict[str, str], write) -> None:
    """`write(file)` run in a thread into the client's output for `exp`, as `sending tarball`."""
    async def send() -> None:
        writer = await session.file_writer(exp.id, meta)
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                write(writer)
            except BaseException:
                writer.abandon()
                raise
            writer.close()

        await loop.run_in_executor(None, run)

    await as_vertex(progress, "sending tarball", send())


def _chain(engine, image) -> str:
    from dockyard.oci.image import chain_ids

    ids = chain_ids(engine.images.config(image)["rootfs"]["diff_ids"])
    return ids[-1] if ids else ""


async def _rootfs_tar(engine, session, progress, image, exp: Export) -> None:
    from dockyard.builder.workspace import View

    def write(out) -> None:
        with View(engine, _chain(engine, image)) as view, \
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as tar:
            _add_tree(tar, view.root)

    await _stream(session, progress, exp, {}, write)


def _add_tree(tar: tarfile.TarFile, root: str) -> None:
    """`root`'s tree, names relative to it, each directory's entries sorted; numeric owners."""
    import os

    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            info = tar.gettarinfo(path, os.path.relpath(path, root))
            if info is None:  # a socket: tar has no such entry
                continue
            info.uname = info.gname = ""
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


async def _local(engine, session, progress, image, exp: Export) -> None:
    from dockyard.builder.workspace import View

    loop = asyncio.get_running_loop()
    view = View(engine, _chain(engine, image))
    await loop.run_in_executor(None, view.__enter__)
    try:
        await as_vertex(progress, "copying files", session.send_dir(Path(view.root), exp.id))
    finally:
        await loop.run_in_executor(None, view.__exit__)
