"""COPY and ADD: putting files from the context, a stage, an image, a heredoc or a URL into the
rootfs of the next layer, with Docker's rules for where they land.

A directory source copies its contents, not itself; a file lands at the destination path,
or inside it when the destination ends with `/` or already is a directory; several sources
need a destination ending with `/`. Copied files are owned by root unless `--chown` says
otherwise (names looked up in the image's own /etc/passwd and /etc/group), keep their mode
unless `--chmod` sets one, and keep their mtimes. ADD also unpacks local tar archives and
downloads URLs (checked against `--checksum`).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import stat
import urllib.parse
from dataclasses import dataclass, field

from dockyard.builder.instructions import DockerfileError, Instruction
from dockyard.builder.sources import Source, SourceTree
from dockyard.errors import DockyardError
from dockyard.store.space import SpaceGuard

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass
class CopyJob:
    """Sources resolved and hashed, ready to be written into a rootfs."""

    instr: Instruction
    tree: SourceTree
    sources: list[Source]
    dest: str                     # absolute, trailing `/` kept
    chown: str | None
    chmod: int | None
    extract: bool                 # ADD: unpack local archives
    digest: str = ""
    temp_dirs: list[str] = field(default_factory=list)

    @property
    def created_by(self) -> str:
        kind = "multi" if len(self.sources) > 1 else ("dir" if self.sources[0].is_dir else "file")
        return f"{self.instr.cmd} {kind}:{self.digest} in {self.dest}"

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(f"{self.instr.cmd} failed: {message}", self.instr.line)

    def close(self) -> None:
        for d in self.temp_dirs:
            shutil.rmtree(d, ignore_errors=True)


def parse_chmod(instr: Instruction) -> int | None:
    text = instr.flag("chmod")
    if text is None:
        return None
    if not re.fullmatch(r"[0-7]{3,4}", text):
        raise DockerfileError(f"invalid chmod {text!r}: use an octal mode such as 0755", instr.line)
    return int(text, 8)


def heredoc_source(text: str, name: str, tmp: str) -> Source:
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return Source(name, path, os.lstat(path), name)


def expand_heredoc(text: str, env: dict[str, str]) -> str:
    """`$VAR` and `${VAR}` in an unquoted COPY heredoc, leaving all else as written."""
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def download(url: str, checksum: str | None, tmp: str, instr: Instruction) -> Source:
    """Fetch an ADD URL into `tmp`; the file is named after the URL's last path segment."""
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
    path = os.path.join(tmp, name)
    h = hashlib.sha256()
    try:
        from urllib.request import urlopen  # only ADD of a URL needs it; it costs 16 ms to import

        with urlopen(url, timeout=120) as resp, open(path, "wb") as out:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
    except OSError as err:
        raise DockerfileError(f"ADD failed: cannot download {url}: {err}", instr.line) from None
    if checksum is not None and checksum != "sha256:" + h.hexdigest():
        raise DockerfileError(f"ADD failed: checksum of {url} is sha256:{h.hexdigest()}, expected {checksum}",
                              instr.line)
    os.chmod(path, 0o600)
    return Source(name, path, os.lstat(path), name)


# -- writing into the rootfs ------------------------------------------------------------------

def apply(job: CopyJob, rootfs: str, guard: SpaceGuard) -> None:
    """Write the job's sources into `rootfs`, charging what they take to `guard` (NoSpace
    before the root's free-space reserve is reached)."""
    from dockyard.runtime.identity import resolve_user

    owner = (0, 0)
    if job.chown:
        user, _, group = job.chown.partition(":")
        try:
            uid = resolve_user(user, rootfs)["uid"]
            gid = resolve_user(f"{user}:{group}", rootfs)["gid"] if group else uid
        except DockyardError as err:
            raise job.error(f"--chown={job.chown}: {err.message}") from None
        owner = (uid, gid)
    multi = len(job.sources) > 1
    if multi and not job.dest.endswith("/"):
        raise job.error("when copying more than one source file, the destination must be a directory and end with a /")
    for src in job.sources:
        if src.is_dir:
            target = ensure_dir(rootfs, job.dest, owner)
            _copy_tree(job, src, target, owner, guard)
        elif job.extract and stat.S_ISREG(src.st.st_mode) and _is_archive(src.path):
            from dockyard.layers.apply import apply_layer
            target = ensure_dir(rootfs, job.dest, owner)
            with open(src.path, "rb") as f:
                apply_layer(f, target, whiteout_mode="delete", guard=guard)
        else:
            dest = job.dest
            into = dest.endswith("/") or os.path.isdir(_resolve(rootfs, dest))
            path = posixpath.join(dest, src.name) if into else dest
            parent = ensure_dir(rootfs, posixpath.dirname(path.rstrip("/")) or "/", owner)
            _copy_node(job, src.path, src.st, os.path.join(parent, posixpath.basename(path.rstrip("/"))), owner,
                       guard)


def _resolve(rootfs: str, path: str) -> str:
    from dockyard.runtime.securejoin import secure_join
    return secure_join(rootfs, path)


def ensure_dir(rootfs: str, path: str, owner: tuple[int, int]) -> str:
    """Create `path` (inside the rootfs, symlinks resolved within it) and its missing parents;
    the host path of the directory."""
    done = "/"
    for part in [p for p in path.split("/") if p]:
        done = posixpath.join(done, part)
        host = _resolve(rootfs, done)
        if not os.path.isdir(host):
            if os.path.lexists(host):
                os.unlink(host)
            os.mkdir(host, 0o755)
            os.chown(host, *owner)
    return _resolve(rootfs, path)


def _copy_tree(job: CopyJob, src: Source, target: str, owner: tuple[int, int], guard: SpaceGuard) -> None:
    """The directory's contents; files hard-linked to each other within it stay linked, as
    Docker's builders keep them (files named as separate sources do not)."""
    copied: dict[tuple[int, int], str] = {}
    for below, path, st in job.tree.walk(src):
        dest = os.path.join(target, below)
        if "/" in below:  # under a directory .dockerignore left out but a `!` pattern re-includes from
            os.makedirs(os.path.dirname(dest), 0o755, exist_ok=True)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            first = copied.setdefault((st.st_dev, st.st_ino), dest)
            if first != dest:
                _make_room(dest, stat.S_IFREG)
                os.link(first, dest)
                continue
        _copy_node(job, path, st, dest, owner, guard)


def _make_room(target: str, kind: int) -> bool:
    """Remove what is at `target` unless it is a directory and a directory goes there;
    whether one stays."""
    existing = os.path.lexists(target)
    if existing and (kind != stat.S_IFDIR or not os.path.isdir(target) or os.path.islink(target)):
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        else:
            os.unlink(target)
        existing = False
    return existing


def _copy_node(job: CopyJob, path: str, st: os.stat_result, target: str, owner: tuple[int, int],
               guard: SpaceGuard) -> None:
    mode = stat.S_IMODE(st.st_mode) if job.chmod is None else job.chmod
    kind = stat.S_IFMT(st.st_mode)
    existing = _make_room(target, kind)
    if kind == stat.S_IFDIR:
        if not existing:
            os.mkdir(target, 0o700)
    elif kind == stat.S_IFREG:
        guard.charge(st.st_size)
        src_fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        dst_fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(src_fd, "rb") as s, open(dst_fd, "wb") as d:
            shutil.copyfileobj(s, d, 1 << 20)
    elif kind == stat.S_IFLNK:
        os.symlink(os.readlink(path), target)
        os.lchown(target, *owner)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        return
    else:
        return  # sockets, fifos and devices are not copied, as in Docker
    os.chown(target, *owner, follow_symlinks=False)
    os.chmod(target, mode)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _is_archive(path: str) -> bool:
    from dockyard.layers.compression import detect
    with open(path, "rb") as f:
        head = f.read(512)
    return bool(detect(head[:8])) or head[257:262] == b"ustar"
