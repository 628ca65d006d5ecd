"""The dockerfile.v0 frontend's attributes, as buildx sends them, read into dockyard's
BuildOptions; what is not served is an error naming it rather than a build that silently differs."""

from __future__ import annotations

from dockyard.buildkit.h2grpc import GrpcError, INVALID_ARGUMENT, UNIMPLEMENTED
from dockyard.builder.context import is_git

FRONTEND = "dockerfile.v0"
# attributes that change nothing here: provenance/SBOM requests (the moby exporter of a
# dockerd without the containerd store drops them too), cache hints, the caps handshake
_IGNORED = ("attest:", "frontend.caps", "cache-from", "contextsubdir",
            "requestid", "local-sessionid:", "input-metadata:", "source-date-epoch", "build-arg:BUILDKIT_")
_NETWORK_MODES = {"sandbox": "default", "none": "none", "host": "host", "": "default"}


def remote_context(opts: dict[str, str]) -> str:
    """The build context when it is a git repository or an http(s) URL, else ""."""
    value = opts.get("context", "")
    return value if value and (is_git(value) or value.startswith(("http://", "https://"))) else ""


def git_contexts(opts: dict[str, str]) -> dict[str, str]:
    """Named contexts that are git repositories: name -> URL#ref:subdir."""
    return {k.removeprefix("context:"): v for k, v in opts.items() if k.startswith("context:")
            and not v.startswith(("docker-image://", "local:")) and is_git(v)}


def frontend_options(engine, opts: dict[str, str]):
    """BuildOptions from the dockerfile frontend's attributes; what is not served is an error
    naming it rather than a build that silently differs."""
    from dockyard.builder.builder import BuildOptions
    from dockyard.builder.sandbox import check_network
    from dockyard.errors import DockyardError
    from dockyard.network.files import parse_add_host

    args = {k.removeprefix("build-arg:"): v for k, v in opts.items() if k.startswith("build-arg:")}
    labels = {k.removeprefix("label:"): v for k, v in opts.items() if k.startswith("label:")}
    images, dirs = {}, {}
    for key, value in opts.items():
        if key.startswith("context:"):
            name = key.removeprefix("context:")
            if value.startswith("docker-image://"):
                images[name] = value.removeprefix("docker-image://")
            elif value.startswith("local:"):
                dirs[name] = value.removeprefix("local:")  # the session's directory; synced before the build
            elif not is_git(value):  # a git repository is checked out before the build (git_contexts)
                raise GrpcError(UNIMPLEMENTED, f"named build contexts other than images, local directories and git "
                                               f"repositories ({key}={value}) are not served by dockyard")
        if key == "context" and not remote_context(opts):
            raise GrpcError(UNIMPLEMENTED, f"the build context {value!r} is not served by dockyard (a git repository, "
                                           "an http(s) URL or the client's directory)")
        known = key in ("filename", "target", "no-cache", "platform", "add-hosts", "force-network-mode", "context",
                        "cache-imports", "shm-size", "dockerfilekey", "contextkey", "image-resolve-mode")
        if not (known or key.startswith(("build-arg:", "label:", "context:", *_IGNORED))):
            raise GrpcError(UNIMPLEMENTED, f"the dockerfile frontend's option {key!r} is not served by dockyard")
    cache_imports(opts)  # refused before anything is fetched
    platform = _platform(opts.get("platform", ""))
    hosts = []
    for entry in filter(None, opts.get("add-hosts", "").replace(",", " ").split()):
        name, sep, address = entry.partition("=")
        if not sep:
            name, _, address = entry.partition(":")
        hosts.append(f"{name}:{address}")
    network = _NETWORK_MODES.get(opts.get("force-network-mode", ""))
    if network is None:
        raise GrpcError(INVALID_ARGUMENT, f"invalid force-network-mode {opts['force-network-mode']!r}")
    limits = {}
    if shm := opts.get("shm-size"):
        if not shm.isdigit():
            raise GrpcError(INVALID_ARGUMENT, f"invalid shm-size {shm!r}")
        limits["shm_size"] = int(shm)
    epoch = args.get("SOURCE_DATE_EPOCH")
    try:
        for entry in hosts:
            parse_add_host(entry, "0.0.0.0")
        check_network(engine, network)
    except DockyardError as err:
        raise GrpcError(INVALID_ARGUMENT, err.message) from None
    return BuildOptions(image_contexts=images, dir_contexts=dirs, build_args=args, labels=labels,
                        target=opts.get("target") or None, no_cache="no-cache" in opts,
                        pull=opts.get("image-resolve-mode") == "pull", network=network, extra_hosts=hosts,
                        limits=limits, source_date_epoch=int(epoch) if epoch and epoch.isdigit() else None,
                        platform=platform)


def cache_not_served(kind: str, direction: str) -> GrpcError:
    """The error for a cache backend dockyard has not got, naming it."""
    why = {"gha": "it needs the GitHub Actions cache service", "s3": "it needs an S3 bucket",
           "azblob": "it needs Azure Blob Storage"}.get(kind, "unknown cache type")
    return GrpcError(UNIMPLEMENTED, f"cache {direction} type={kind} is not served by dockyard ({why}); "
                                    "use type=registry, type=local or type=inline")


def cache_imports(opts: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """The `cache-imports` attribute (a JSON CacheOptionsEntry list): (type, attributes) of
    each, once each is of a type dockyard imports."""
    import json

    text = opts.get("cache-imports", "")
    if not text:
        return []
    try:
        entries = json.loads(text)
    except ValueError:
        raise GrpcError(INVALID_ARGUMENT, "invalid cache-imports: not JSON") from None
    out = []
    for entry in entries if isinstance(entries, list) else []:
        kind, attrs = entry.get("Type", ""), entry.get("Attrs") or {}
        if kind == "registry" and not attrs.get("ref"):
            raise GrpcError(INVALID_ARGUMENT, "registry cache importer requires ref")
        if kind == "local" and not (attrs.get("src") and attrs.get("digest")):
            raise GrpcError(INVALID_ARGUMENT, "local cache importer requires src and a digest (from its index.json)")
        if kind not in ("registry", "local"):
            raise cache_not_served(kind, "import")
        out.append((kind, attrs))
    return out


def _platform(text: str) -> str | None:
    """The one linux platform a build is for (None: the host's); another architecture's RUN
    steps run under QEMU. Several platforms make a multi-platform result, not served here."""
    from dockyard.errors import DockyardError
    from dockyard.oci.platform import host_platform, parse_platform

    wanted = [p for p in text.split(",") if p]
    if len(wanted) > 1:
        raise GrpcError(UNIMPLEMENTED, f"multi-platform builds ({text}) are not served by dockyard's docker driver: "
                                       "build one platform at a time, or use `dockyard build --platform`")
    if not wanted:
        return None
    try:
        platform = parse_platform(wanted[0])
    except DockyardError as err:
        raise GrpcError(INVALID_ARGUMENT, err.message) from None
    if platform.os != "linux":
        raise GrpcError(UNIMPLEMENTED, f"platform {wanted[0]} is not served: dockyard builds linux platforms only")
    return None if platform == host_platform() else str(platform)
