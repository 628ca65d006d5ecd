"""The build context: the files a build may COPY, wherever they came from.

A directory context is read in place (nothing is copied up front, so a 200 MB context whose
.dockerignore leaves most of it out costs nothing until a COPY asks for a file); a tar on
stdin, a tarball URL or a git repository is first unpacked into a private temporary
directory, confined to it as a hostile layer would be. That directory is recorded under the
root's build markers (builder/unfinished.py), so a build killed outright does not leave it. The Dockerfile is read from the
context unless given elsewhere, and it and .dockerignore are always available to the builder
even when .dockerignore excludes them (they are just not COPY-able then), as in Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Self

from dockyard.builder.dockerignore import DockerIgnore
from dockyard.builder.unfinished import Marker
from dockyard.errors import InvalidArgument, NotFound

# A Dockerfile this big is a mistake (or an attack); Docker's own limit on a line is far lower.
MAX_DOCKERFILE_BYTES = 32 << 20
MAX_LINE_BYTES = 1 << 20
_GIT_PREFIXES = ("git://", "git@", "github.com/", "ssh://")


class ContextError(InvalidArgument):
    """The build context or Dockerfile could not be read."""


@dataclass
class BuildContext:
    """`root` holds the context's files; `ignore` says which of them COPY may not see."""

    root: Path
    ignore: DockerIgnore
    dockerfile: bytes
    dockerfile_name: str
    _cleanup: list[Path] = field(default_factory=list)
    _marker: Marker | None = None

    def close(self) -> None:
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)
        self._cleanup.clear()
        if self._marker is not None:
            self._marker.remove()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_context(source: str, dockerfile: str | None = None, *, stdin: BinaryIO | None = None,
                 in_context: bool = False, store: Path | None = None) -> BuildContext:
    """The context named on the command line: a directory, `-` (a tar or a Dockerfile on
    stdin), a git repository (`URL#ref:subdir`, or a local repository path with `#ref`), or an
    http(s) URL of a tarball. `dockerfile` is a path (relative to the current directory, as
    docker reads `-f`), `-` for stdin, or None for `Dockerfile` in the context; with
    `in_context` (the Engine API's `dockerfile`) it is a path inside the context, never a
    file of the machine's own. `store`: the root whose build markers record a temporary
    directory (None: it is not recorded)."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    cleanup = _Scratch(store)
    try:
        inline: bytes | None = None
        if source == "-":
            data = stdin.read()
            if _looks_like_archive(data):
                root = _unpack_tar(data, cleanup)
            else:
                if dockerfile == "-":
                    raise ContextError("cannot read both the context and the Dockerfile from stdin")
                root, inline = cleanup.new_dir(), data
        elif is_git(source):
            root = _git_checkout(source, cleanup)
        elif source.startswith(("http://", "https://")):
            data = _download(source)
            if _looks_like_archive(data):
                root = _unpack_tar(data, cleanup)
            else:
                root, inline = cleanup.new_dir(), data
        else:
            root = Path(source).absolute()
            if not root.is_dir():
                raise ContextError(f"unable to prepare context: path {source!r} not found or not a directory")
        if dockerfile == "-" and not in_context:
            inline, name = stdin.read(), "Dockerfile"
        elif inline is not None:
            name = "Dockerfile"
        elif in_context:
            path = _in_context(root, dockerfile or "Dockerfile")
            inline, name = _read_dockerfile(path), path.name
        else:
            path = Path(dockerfile) if dockerfile else root / "Dockerfile"
            if dockerfile and not path.is_absolute() and not path.exists() and (root / dockerfile).exists():
                path = root / dockerfile  # docker also accepts -f relative to the context
            inline, name = _read_dockerfile(path), path.name
        ignore = read_ignore(root, name)
        check_dockerfile_size(inline, name)
        return BuildContext(root, ignore, inline, name, cleanup, cleanup.marker)
    except BaseException:
        _discard(cleanup)
        raise


def open_git(source: str, store: Path | None = None) -> tuple[Path, Callable[[], None]]:
    """A git repository (`URL#ref:subdir`) checked out into a private temporary directory (a
    named build context): its root, and what removes it."""
    cleanup = _Scratch(store)
    try:
        root = _git_checkout(source, cleanup)
    except BaseException:
        _discard(cleanup)
        raise
    return root, lambda: _discard(cleanup)


def _discard(cleanup: "_Scratch") -> None:
    for path in cleanup:
        shutil.rmtree(path, ignore_errors=True)
    if cleanup.marker is not None:
        cleanup.marker.remove()


def check_dockerfile_size(data: bytes, name: str) -> None:
    """Refuse absurd Dockerfiles before parsing them, naming the first offending line."""
    if len(data) > MAX_DOCKERFILE_BYTES:
        raise ContextError(f"{name}: the Dockerfile is {len(data)} bytes; the limit is {MAX_DOCKERFILE_BYTES}")
    for number, line in enumerate(data.split(b"\n"), 1):
        if len(line) > MAX_LINE_BYTES:
            raise ContextError(f"{name}:{number}: line is too long ({len(line)} bytes; the limit is {MAX_LINE_BYTES})")


def _in_context(root: Path, name: str) -> Path:
    """The Dockerfile `name` inside the context, symlinks resolved within it as dockerd does;
    `Dockerfile` may also be spelt `dockerfile`."""
    from dockyard.runtime.securejoin import secure_join

    for candidate in (name, "dockerfile") if name == "Dockerfile" else (name,):
        path = Path(secure_join(str(root), candidate))
        if path.is_file():
            return path
    raise NotFound(f"Cannot locate specified Dockerfile: {name}")


def _read_dockerfile(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_DOCKERFILE_BYTES:
            raise ContextError(f"{path.name}: the Dockerfile is larger than {MAX_DOCKERFILE_BYTES} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"unable to prepare context: cannot find the Dockerfile {path}") from None
    except IsADirectoryError:
        raise ContextError(f"unable to prepare context: {path} is a directory, not a Dockerfile") from None


def read_ignore(root: Path, dockerfile_name: str) -> DockerIgnore:
    """`<Dockerfile>.dockerignore` next to the context wins over `.dockerignore`, as in BuildKit."""
    for candidate in (root / f"{dockerfile_name}.dockerignore", root / ".dockerignore"):
        if candidate.is_file() and not candidate.is_symlink():
            return DockerIgnore.from_text(candidate.read_bytes())
    return DockerIgnore([])


def _looks_like_archive(data: bytes) -> bool:
    from dockyard.layers.compression import detect
    if detect(data[:8]):
        return True
    return len(data) >= 512 and data[257:262] == b"ustar"


class _Scratch(list):
    """The temporary directories of a context being opened, and the marker recording them."""

    def __init__(self, root: Path | None) -> None:
        super().__init__()
        self.root = root
        self.marker: Marker | None = None

    def new_dir(self) -> Path:
        if self.root is None:
            path = Path(tempfile.mkdtemp(prefix="dockyard-context-"))
        else:
            import secrets
            self.marker = Marker(self.root, f"build-{secrets.token_hex(16)}")
            self.marker.write()  # before the directory exists
            path = Path(self.marker.scratch("context"))
        self.append(path)
        return path



def _unpack_tar(data: bytes, cleanup: _Scratch) -> Path:
    """A context tar (plain or compressed), confined to its directory like any untrusted layer."""
    import io

    from dockyard.layers.apply import apply_layer

    root = cleanup.new_dir()
    apply_layer(io.BytesIO(data), root, whiteout_mode="delete")
    return root


def _download(url: str) -> bytes:
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.read(MAX_DOCKERFILE_BYTES * 64)
    except OSError as err:
        raise ContextError(f"unable to download the build context {url}: {err}") from None


def is_git(source: str) -> bool:
    """Whether a context names a git repository, as `docker build` decides it."""
    base = source.split("#", 1)[0]
    if source.startswith(_GIT_PREFIXES) or base.endswith(".git"):
        return True
    if source.startswith(("http://", "https://")):
        return "#" in source
    return "#" in source and (Path(base) / ".git").exists()


def _git_checkout(source: str, cleanup: _Scratch) -> Path:
    """A shallow checkout of `URL#ref:subdir` (ref: branch, tag or commit; default HEAD)."""
    url, _, fragment = source.partition("#")
    ref, _, subdir = fragment.partition(":")
    if url.startswith("github.com/"):
        url = "https://" + url
    elif not url.startswith(("git://", "git@", "ssh://", "http://", "https://", "/", "file://")):
        url = str(Path(url).absolute())
    root = cleanup.new_dir()
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False, text=True, env=env)

    git("init", "-q")
    git("remote", "add", "origin", url)
    fetched = git("fetch", "-q", "--depth", "1", "origin", ref or "HEAD")
    if fetched.returncode:
        fetched = git("fetch", "-q", "origin")  # servers that refuse a shallow fetch by commit
        if fetched.returncode:
            raise ContextError(f"unable to fetch git context {url}: {fetched.stderr.strip()}")
        target = ref or "origin/HEAD"
    else:
        target = "FETCH_HEAD"
    done = git("checkout", "-q", target)
    if done.returncode:
        raise ContextError(f"unable to check out {ref or 'HEAD'} of {url}: {done.stderr.strip()}")
    git("submodule", "update", "-q", "--init", "--recursive", "--depth", "1")
    shutil.rmtree(root / ".git", ignore_errors=True)
    if subdir:
        from dockyard.builder.dockerignore import clean_path
        sub = clean_path(subdir).lstrip("/")
        if sub.startswith(".."):
            raise ContextError(f"git context subdirectory {subdir!r} is outside the repository")
        root = root / sub
        if not root.is_dir():
            raise ContextError(f"git context subdirectory {subdir!r} not found in {url}")
    return root
