"""A dockerfile.v0 solve: the context and Dockerfile fetched over the client's session (or
from a git repository or URL), its secrets and SSH agents on demand, its cache imports pulled
or read from the client, dockyard's builder run with its progress as BuildKit status.

One builder, two front doors: everything past the options and the context is the same code
the classic POST /build and `dockyard build` run, with the same cache.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from dockyard.buildkit.frontend import cache_imports, frontend_options, git_contexts, remote_context
from dockyard.buildkit.h2grpc import CANCELLED, UNKNOWN, GrpcError
from dockyard.buildkit.jobs import Job
from dockyard.buildkit.session import Session, write_secret
from dockyard.buildkit.status import StatusProgress, as_vertex


class SessionSecrets(dict):
    """BuildOptions.secrets (ID -> file) filled on first use from the client's session."""

    def __init__(self, session: Session, loop: asyncio.AbstractEventLoop, directory: Path) -> None:
        super().__init__()
        self.session, self.loop, self.directory = session, loop, directory

    def get(self, secret_id: str, default=None):
        if secret_id not in self:
            data = asyncio.run_coroutine_threadsafe(self.session.secret(secret_id), self.loop).result()
            if data is None:
                return default
            self[secret_id] = write_secret(self.directory, secret_id, data)
        return self[secret_id]


class SessionAgents(dict):
    """BuildOptions.ssh (ID -> agent socket) made on first use: a socket that forwards to the
    client's agent over its session. `close` stops them once the build is done."""

    def __init__(self, session: Session, loop: asyncio.AbstractEventLoop, directory: Path) -> None:
        super().__init__()
        self.session, self.loop, self.directory = session, loop, directory
        self.servers: list = []

    def get(self, agent_id: str, default=None):
        if agent_id not in self:
            path = self.directory / f"agent-{len(self.servers)}.sock"
            server = asyncio.run_coroutine_threadsafe(self.session.agent(agent_id, path), self.loop).result()
            if server is None:
                return default
            self.servers.append(server)
            self[agent_id] = str(path)
        return self[agent_id]

    def close(self) -> None:
        for server in self.servers:
            self.loop.call_soon_threadsafe(server.close)


def failure(err: BaseException) -> GrpcError:
    """A failed build in BuildKit's words (buildx prints them after `failed to solve:`)."""
    from dockyard.builder.builder import BuildCancelled
    from dockyard.builder.run import StepFailed
    from dockyard.errors import DockyardError

    if isinstance(err, BuildCancelled):
        return GrpcError(CANCELLED, "context canceled")
    if isinstance(err, StepFailed) and err.argv:
        return GrpcError(UNKNOWN, f"process \"{' '.join(err.argv)}\" did not complete successfully: "
                                  f"exit code: {err.code}")
    if isinstance(err, DockyardError):
        return GrpcError(UNKNOWN, err.message)
    return GrpcError(UNKNOWN, f"{type(err).__name__}: {err}")


def job_progress(job: Job) -> StatusProgress:
    """The build's progress as its Status streams see it: one numbering for every build step
    and export step of a Solve (called on the event loop)."""
    if job.progress is None:
        loop = asyncio.get_running_loop()
        job.progress = StatusProgress(job.ref, lambda update: loop.call_soon_threadsafe(job.publish, update),
                                      lambda: job.cancelled)
    return job.progress


async def _session_context(session: Session, progress: StatusProgress, opts: dict[str, str], filename: str,
                           dockerfile_dir: Path, context_dir: Path):
    """The Dockerfile and the context directory, synced from the client's session."""
    from dockyard.builder.context import BuildContext, check_dockerfile_size, read_ignore

    dockerfile_key = opts.get("dockerfilekey") or "dockerfile"
    context_key = opts.get("contextkey") or "context"
    await as_vertex(progress, f"[internal] load build definition from {filename}",
                    session.sync(dockerfile_key, dockerfile_dir, includes=[filename]), transferred="dockerfile")
    path = dockerfile_dir / filename
    if not path.is_file():
        raise GrpcError(UNKNOWN, f"failed to read dockerfile: open {filename}: no such file or directory")
    dockerfile = path.read_bytes()
    check_dockerfile_size(dockerfile, filename)
    ignores = [".dockerignore", f"{filename}.dockerignore"]
    await as_vertex(progress, "[internal] load .dockerignore", session.sync(context_key, context_dir, includes=ignores),
                    transferred="context")
    ignore = read_ignore(context_dir, filename)
    excludes = [p.strip() for p in (context_dir / ".dockerignore").read_text(errors="replace").splitlines()
                if p.strip() and not p.lstrip().startswith("#")] if (context_dir / ".dockerignore").is_file() else []
    await as_vertex(progress, "[internal] load build context", session.sync(context_key, context_dir, excludes=excludes),
                    transferred="context")
    return BuildContext(context_dir, ignore, dockerfile, filename)


async def dockerfile_build(engine, job: Job, session: Session, opts: dict[str, str]):
    """Fetch the Dockerfile and context (over `session`, or from the git or http(s) URL the
    `context` attribute names), import the cache asked for, and build; returns the image."""
    from dockyard.builder.builder import build_image
    from dockyard.builder.context import open_context, open_git

    loop = asyncio.get_running_loop()
    options = await loop.run_in_executor(None, frontend_options, engine, opts)
    progress = job_progress(job)
    filename = opts.get("filename") or "Dockerfile"
    work = Path(tempfile.mkdtemp(prefix=f"dockyard-buildkit-{engine.id}-"))
    removers: list = []  # what removes remote contexts' checkouts once the build is done
    handed_over = False
    try:
        dockerfile_dir, context_dir, secrets_dir = work / "dockerfile", work / "context", work / "secrets"
        for d in (dockerfile_dir, context_dir, secrets_dir):
            d.mkdir(mode=0o700)
        remote = remote_context(opts)
        if remote:
            fetch = loop.run_in_executor(None, lambda: open_context(remote, filename, in_context=True, store=engine.root))
            context = await as_vertex(progress, f"[internal] load remote build context {remote}", fetch)
            removers.append(context.close)
        else:
            context = await _session_context(session, progress, opts, filename, dockerfile_dir, context_dir)
        for i, (name, dir_name) in enumerate(list(options.dir_contexts.items())):
            named = work / f"named-{i}"
            named.mkdir(mode=0o700)
            await as_vertex(progress, f"[internal] load build context {name}", session.sync(dir_name, named),
                            transferred=name)
            options.dir_contexts[name] = str(named)
        for name, url in git_contexts(opts).items():  # checked out here
            root, remove = await as_vertex(progress, f"[internal] load git source {url}",
                                           loop.run_in_executor(None, open_git, url, engine.root))
            removers.append(remove)
            options.dir_contexts[name] = str(root)
        options.secrets = SessionSecrets(session, loop, secrets_dir)
        options.ssh = agents = SessionAgents(session, loop, secrets_dir)

        def base_image(name: str, force_pull: bool, platform: str | None):
            return _base_image(engine, session, loop, name, force_pull, platform)

        def build():
            try:
                imports = [] if options.no_cache else cache_imports(opts)
                options.cache_imports = [image for kind, attrs in imports
                                         if (image := _import_cache(engine, session, loop, kind, attrs,
                                                                    options.platform, progress))]
                return build_image(engine, context, options, progress, base_image)
            finally:
                agents.close()
                for remove in removers:
                    remove()
                shutil.rmtree(work, ignore_errors=True)

        future = loop.run_in_executor(None, build)
        handed_over = True
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancelled = True  # the builder stops its running step and cleans up
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # its BuildCancelled is expected
            raise
    except GrpcError:
        raise
    except Exception as err:
        raise failure(err) from None
    finally:
        if not handed_over:
            for remove in removers:
                remove()
            shutil.rmtree(work, ignore_errors=True)


def _base_image(engine, session: Session, loop, name: str, force_pull: bool, platform: str | None):
    """A FROM image for `platform` (None: the host's): the local one unless missing or pull was
    asked, else pulled with the client's login for that registry (the session's Auth service)."""
    from dockyard.distribution.images import pull_image
    from dockyard.images.indexes import find_for_platform
    from dockyard.oci.reference import parse_normalized

    image = None if force_pull else find_for_platform(engine.images, name, platform)
    if image is not None:
        return image
    ref = parse_normalized(name).with_default_tag()
    credentials = asyncio.run_coroutine_threadsafe(session.login(ref.domain), loop).result()
    return pull_image(engine.images, ref, platform=platform, credentials=credentials,
                      insecure_registries=engine.insecure_registries, mirrors=engine.registry_mirrors).image


def _import_cache(engine, session: Session, loop, kind: str, attrs: dict[str, str], platform: str | None,
                  progress: StatusProgress) -> str | None:
    """A cache import: the image a registry ref names (pulled with the client's login), or the
    one a client's local cache directory holds (read from its content store), added untagged
    so its steps can serve the build; its ID, or None when it cannot be had (a warning, as
    BuildKit gives, and the build goes on without it)."""
    from dockyard.distribution.pull import pull
    from dockyard.errors import DockyardError
    from dockyard.oci.reference import Reference, parse_normalized

    name = attrs.get("ref") if kind == "registry" else attrs["src"]
    step = progress.start(f"importing cache manifest from {name}")
    try:
        if kind == "local":
            image = _import_local(engine, session, loop, f"local:{attrs['src']}", attrs["digest"])
        else:
            ref = parse_normalized(name).with_default_tag()
            credentials = asyncio.run_coroutine_threadsafe(session.login(ref.domain), loop).result()
            with engine.images.adding():
                res = pull(ref, engine.content, platform=platform, credentials=credentials,
                           insecure_registries=engine.insecure_registries)
                image = engine.images.add_image(res.manifest_digest, [], repo_digest=Reference(
                    ref.domain, ref.path, "", res.index_digest or res.manifest_digest))
    except (DockyardError, GrpcError) as err:
        progress.finish(step, "done", f"WARNING: failed to import cache {name}: {err.message}")
        return None
    progress.finish(step, "done")
    return image.id


def _import_local(engine, session: Session, loop, store: str, digest: str):
    """The image whose manifest is `digest` in the client's content store `store`."""
    import json

    from dockyard.buildkit.contentstore import read_blob

    def fetch(blob: str) -> bytes:
        data = asyncio.run_coroutine_threadsafe(read_blob(session, store, blob), loop).result()
        engine.content.put(data, blob)
        return data

    with engine.images.adding():
        manifest = json.loads(fetch(digest))
        for desc in [manifest["config"], *manifest.get("layers", [])]:
            if not engine.content.exists(desc["digest"]):
                fetch(desc["digest"])
        return engine.images.add_image(digest, [])
