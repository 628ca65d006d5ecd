"""What is inside an image: its OS (from os-release) and installed packages, read from its layers.

The layers are read in order as the union filesystem would stack them (OCI whiteouts and
opaque directories remove what lower layers had), keeping only the few files that say what is
installed: `/etc/os-release` (often a symlink to `/usr/lib/os-release`), dpkg's status file,
apk's installed database, Python `*.dist-info/METADATA`, and a busybox binary's version. An
image's contents never change (its digest names them), so they are computed once and kept.
"""

from __future__ import annotations

import logging
import posixpath
import re
import tarfile
from dataclasses import asdict, dataclass

from dockyard.layers.compression import open_reader
from dockyard.registry import errors

log = logging.getLogger(__name__)

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
DPKG_STATUS = "var/lib/dpkg/status"
APK_INSTALLED = "lib/apk/db/installed"
BUSYBOX = ("bin/busybox",)
_DIST_INFO = re.compile(r"(?:^|/)(?:site|dist)-packages/[^/]+\.dist-info/METADATA$")
_BUSYBOX_VERSION = re.compile(rb"BusyBox v(\d[\w.\-]*)")
MAX_FILE = 32 << 20  # a status file larger than this is not one


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    kind: str  # deb | apk | python | binary


def _wanted(path: str) -> bool:
    return path in OS_RELEASE or path in (DPKG_STATUS, APK_INSTALLED) or path in BUSYBOX or bool(_DIST_INFO.search(path))


def _norm(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def stacked_files(layers) -> dict[str, bytes]:
    """The wanted files of the filesystem the `layers` (binary streams, lowest first) make up."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    for stream in layers:
        with tarfile.open(fileobj=open_reader(stream), mode="r|") as tar:
            for member in tar:
                path = _norm(member.name)
                base, leaf = posixpath.split(path)
                if leaf == ".wh..wh..opq":
                    prefix = base + "/"
                    for table in (files, links):
                        for key in [k for k in table if k.startswith(prefix)]:
                            del table[key]
                    continue
                if leaf.startswith(".wh."):
                    gone = posixpath.join(base, leaf[4:])
                    for table in (files, links):
                        for key in [k for k in table if k == gone or k.startswith(gone + "/")]:
                            del table[key]
                    continue
                if not _wanted(path):
                    continue
                files.pop(path, None)
                links.pop(path, None)
                if member.issym():
                    links[path] = posixpath.normpath(posixpath.join(base, member.linkname)).lstrip("/")
                elif member.islnk():
                    links[path] = _norm(member.linkname)
                elif member.isfile() and member.size <= MAX_FILE:
                    files[path] = tar.extractfile(member).read()
    for path, target in links.items():
        if target in files:
            files.setdefault(path, files[target])
    return files


def _os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().isidentifier():
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out[key.strip()] = value
    return out


def _dpkg(text: str) -> list[Package]:
    out = []
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace():
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            out.append(Package(fields["Package"], fields.get("Version", ""), "deb"))
    return out


def _apk(text: str) -> list[Package]:
    out = []
    for stanza in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in stanza.splitlines() if len(line) > 2 and line[1] == ":")
        if fields.get("P"):
            out.append(Package(fields["P"], fields.get("V", ""), "apk"))
    return out


def _python(text: str) -> Package | None:
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key, value.strip())
    return Package(fields["Name"], fields.get("Version", ""), "python") if fields.get("Name") else None


def describe(files: dict[str, bytes]) -> dict:
    """{"os": {ID, VERSION_ID, PRETTY_NAME...}, "packages": [{name, version, kind}...]} of the stacked files."""
    release = next((files[p] for p in OS_RELEASE if p in files), b"")
    packages: list[Package] = []
    if DPKG_STATUS in files:
        packages += _dpkg(files[DPKG_STATUS].decode(errors="replace"))
    if APK_INSTALLED in files:
        packages += _apk(files[APK_INSTALLED].decode(errors="replace"))
    for path, data in files.items():
        if _DIST_INFO.search(path):
            found = _python(data.decode(errors="replace"))
            if found:
                packages.append(found)
        elif path in BUSYBOX:
            m = _BUSYBOX_VERSION.search(data)
            packages.append(Package("busybox", m.group(1).decode() if m else "", "binary"))
    packages.sort(key=lambda p: (p.kind, p.name, p.version))
    return {"os": _os_release(release.decode(errors="replace")), "packages": [asdict(p) for p in packages]}


def diff(old: dict, new: dict) -> dict[str, list]:
    """Packages added, removed and changed (name, old version, new version) from `old` to `new`."""
    before = {(p["kind"], p["name"]): p["version"] for p in old["packages"]}
    after = {(p["kind"], p["name"]): p["version"] for p in new["packages"]}
    return {
        "added": [{"kind": k, "name": n, "version": after[(k, n)]} for k, n in sorted(after.keys() - before.keys())],
        "removed": [{"kind": k, "name": n, "version": before[(k, n)]} for k, n in sorted(before.keys() - after.keys())],
        "changed": [{"kind": k, "name": n, "from": before[(k, n)], "to": after[(k, n)]}
                    for k, n in sorted(before.keys() & after.keys()) if before[(k, n)] != after[(k, n)]],
    }


def of_image(storage, info, repo: str, image) -> dict | None:
    """The contents of a (non-index) catalog Image of `repo`, computed once and kept by digest;
    None for an index or layers that cannot be read. Blocking: run it in an executor."""
    if image.is_index:
        return None
    kept = info.contents(image.digest)
    if kept is not None:
        return kept

    def layers():
        for layer in image.layers:
            with open(storage.blob_path(repo, layer.digest), "rb") as f:
                yield f

    try:
        doc = describe(stacked_files(layers()))
    except (OSError, tarfile.TarError, EOFError, ValueError, errors.RegistryError) as exc:
        log.warning("cannot read the contents of %s@%s: %s", repo, image.digest, exc)
        return None
    info.keep_contents(image.digest, doc)
    return doc
