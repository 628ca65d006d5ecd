"""Where COPY and ADD read from: the build context, or the filesystem of a stage or an image.

Both are trees of files a source path (maybe a glob) is resolved in. The context is
*confined*: a path that climbs out of it (`../x`) is an error, and a symlink that points
outside it is never followed (COPY takes the link itself); files `.dockerignore` excludes do
not exist. A stage or image root is resolved as a chroot would: absolute link targets start
at its root and `..` stops there.

Content hashes (what the build cache keys COPY on) are computed lazily, only for the files a
COPY uses, and depend on content, type, mode and ownership, never on mtimes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from dockyard.builder.dockerignore import DockerIgnore, clean_path
from dockyard.errors import InvalidArgument

_MAGIC = set("*?[")
_MAX_LINKS = 40


class SourceError(InvalidArgument):
    """A COPY/ADD source is missing, excluded, or outside the context; the builder adds the line."""


@dataclass(frozen=True)
class Source:
    """One resolved source: `rel` (its path in the tree, "" for the root), `path` on the host,
    its lstat, and `name`, the basename the destination gets."""

    rel: str
    path: str
    st: os.stat_result
    name: str

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


class SourceTree:
    def __init__(self, root: str | os.PathLike, *, ignore: DockerIgnore | None = None, confined: bool) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.ignore = ignore or DockerIgnore([])
        self.confined = confined
        self._hashes: dict[str, str] = {}

    def excluding(self, patterns: list[str]) -> SourceTree:
        """This tree with more files left out (`COPY --exclude`)."""
        own = [("!" if p.exclusion else "") + p.text for p in self.ignore.patterns]
        return SourceTree(self.root, ignore=DockerIgnore(own + patterns), confined=self.confined)

    # -- resolution ------------------------------------------------------------------------
    def match(self, pattern: str) -> list[Source]:
        """The sources `pattern` names, sorted; a pattern matching nothing is an error."""
        parts = self._parts(pattern)
        found = self._expand([], parts, pattern)
        if not found:
            if any(_MAGIC & set(p) for p in parts):
                raise SourceError(f"no source files were specified: no file matches {pattern!r}")
            raise SourceError(f"file not found in build context: {pattern}" if self.confined
                              else f"file not found: {pattern}")
        return found

    def _parts(self, pattern: str) -> list[str]:
        if self.confined:
            cleaned = clean_path(pattern.lstrip("/") or ".")
            if cleaned == ".." or cleaned.startswith("../"):
                raise SourceError(f"forbidden path outside the build context: {pattern}")
        else:
            cleaned = clean_path("/" + pattern)
        return [p for p in cleaned.split("/") if p not in ("", ".")]

    def _expand(self, done: list[str], todo: list[str], pattern: str) -> list[Source]:
        if not todo:
            rel = "/".join(done)
            return [] if rel and self.ignore.matches(rel) else [self._final(done, done[-1] if done else "")]
        head, rest = todo[0], todo[1:]
        if _MAGIC & set(head):
            try:
                names = sorted(os.listdir(self._host(done)))
            except (NotADirectoryError, FileNotFoundError):
                return []
            candidates = [n for n in names if fnmatch.fnmatchcase(n, head)]
        else:
            candidates = [head]
        out: list[Source] = []
        for name in candidates:
            if rest:
                resolved = self._follow(done + [name], pattern)
                if resolved is not None and os.path.isdir(self._host(resolved)) \
                        and self.ignore.may_descend("/".join(resolved)):
                    out.extend(self._expand(resolved, rest, pattern))
            elif os.path.lexists(self._host(done + [name])):
                out.extend(self._expand(done + [name], [], pattern))
        return out

    def _host(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts)

    def _follow(self, parts: list[str], pattern: str, *, final: bool = False) -> list[str] | None:
        """`parts` with its last component's symlinks resolved in scope; None when a final link
        points outside a confined tree (the link itself is then the source)."""
        for _ in range(_MAX_LINKS):
            try:
                target = os.readlink(self._host(parts))
            except OSError:
                return parts
            if target.startswith("/"):
                if self.confined:
                    if final:
                        return None
                    raise SourceError(f"{pattern}: symlink {'/'.join(parts)} points outside the build context")
                base: list[str] = []
            else:
                base = parts[:-1]
            resolved = list(base)
            for comp in target.split("/"):
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if not resolved:
                        if self.confined:
                            if final:
                                return None
                            raise SourceError(f"{pattern}: symlink {'/'.join(parts)} points outside the build context")
                        continue
                    resolved.pop()
                else:
                    resolved.append(comp)
            parts = resolved
        raise SourceError(f"{pattern}: too many levels of symbolic links")

    def _final(self, parts: list[str], name: str) -> Source:
        followed = self._follow(parts, "/".join(parts), final=True) if parts else parts
        if followed is None or not os.path.lexists(self._host(followed)):
            followed = parts  # a link out of the context, or a dangling one: the link itself
        rel = "/".join(followed)
        if rel and self.ignore.matches(rel):
            raise SourceError(f"file not found in build context: {'/'.join(parts)} (excluded by .dockerignore)")
        path = self._host(followed)
        return Source(rel, path, os.lstat(path), name)

    # -- walking and hashing ---------------------------------------------------------------
    def walk(self, source: Source) -> Iterator[tuple[str, str, os.stat_result]]:
        """(path below the source, host path, lstat) of everything in a directory source, parents
        first, excluded files left out; links are not followed."""
        yield from self._walk(source.rel, source.path, "")

    def _walk(self, rel: str, path: str, below: str) -> Iterator[tuple[str, str, os.stat_result]]:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            crel = f"{rel}/{entry.name}" if rel else entry.name
            cbelow = f"{below}/{entry.name}" if below else entry.name
            st = entry.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            excluded = self.ignore.matches(crel)
            if not excluded:
                yield cbelow, entry.path, st
            if is_dir and (not excluded or self.ignore.may_descend(crel)):
                yield from self._walk(crel, entry.path, cbelow)

    def digest(self, sources: list[Source]) -> str:
        """One hash for everything these sources would copy."""
        h = hashlib.sha256()
        for src in sources:
            h.update(f"{src.name}\0".encode())
            h.update(self._node(src.path, src.st))
            if src.is_dir:
                for below, path, st in self.walk(src):
                    h.update(f"{below}\0".encode())
                    h.update(self._node(path, st))
        return h.hexdigest()

    def _node(self, path: str, st: os.stat_result) -> bytes:
        kind = stat.S_IFMT(st.st_mode)
        head = f"{kind:o} {stat.S_IMODE(st.st_mode):o} {st.st_uid}:{st.st_gid} "
        if stat.S_ISREG(kind):
            body = self.file_hash(path)
        elif stat.S_ISLNK(kind):
            body = os.readlink(path)
        else:
            body = ""
        return f"{head}{body}\n".encode()

    def file_hash(self, path: str) -> str:
        known = self._hashes.get(path)
        if known is None:
            h = hashlib.sha256()
            with open(path, "rb", buffering=0) as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            known = self._hashes[path] = h.hexdigest()
        return known


def join_dest(workdir: str, dest: str) -> str:
    """A COPY destination made absolute against WORKDIR, keeping a trailing `/`."""
    full = posixpath.join(workdir or "/", dest)
    trailing = dest.endswith(("/", "/.")) or dest in (".", "")
    norm = posixpath.normpath(full)
    return norm.rstrip("/") + "/" if trailing else norm
