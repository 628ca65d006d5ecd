"""`manifest create/annotate/inspect/push/rm`: manifest lists assembled from images in a registry.

As the docker CLI does, a list being assembled lives in the client's config directory,
`<config>/manifests/<list>/<image>` (names made file-safe: `:` -> `-`, `/` -> `_`), one JSON
file per image: its reference, descriptor (with the platform read from its config), raw bytes
and parsed manifest. `push` sends the images' manifests into the list's repository when they
live in another one (their blobs mounted there), then the list, in the docker CLI's bytes.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Sequence

from dockyard.distribution.client import connect, repository_scope
from dockyard.distribution.credentials import default_config_dir
from dockyard.distribution.pull import fetch_manifest, json_object
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.oci import mediatypes
from dockyard.oci.digest import sha256_digest
from dockyard.oci.reference import Reference, parse_normalized

# what `manifest annotate` accepts, as the docker CLI's list of Go's known os/arch pairs
_VALID_OS_ARCH = {
    "aix": {"ppc64"}, "android": {"386", "amd64", "arm", "arm64"}, "darwin": {"amd64", "arm64"},
    "dragonfly": {"amd64"}, "freebsd": {"386", "amd64", "arm"}, "illumos": {"amd64"}, "ios": {"arm64"},
    "js": {"wasm"}, "wasip1": {"wasm"},
    "linux": {"386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64",
              "ppc64le", "riscv64", "s390x"},
    "netbsd": {"386", "amd64", "arm"}, "openbsd": {"386", "amd64", "arm", "arm64"}, "plan9": {"386", "amd64", "arm"},
    "solaris": {"amd64"}, "windows": {"386", "amd64", "arm", "arm64"},
}


def _filesafe(ref: Reference) -> str:
    return str(ref).replace(":", "-").replace("/", "_")


def _ref(name: str) -> Reference:
    ref = parse_normalized(name)
    return ref if ref.digest else ref.with_default_tag()


class ManifestLists:
    """The lists being assembled in one config directory."""

    def __init__(self, config_dir: str | Path | None = None, insecure: bool = False,
                 insecure_registries: Sequence[str] = ()) -> None:
        self.root = Path(config_dir or default_config_dir()) / "manifests"
        self.insecure = insecure
        self.insecure_registries = list(insecure_registries)

    def _registries(self, ref: Reference) -> list[str]:
        return [*self.insecure_registries, *([ref.domain] if self.insecure else [])]

    def _entries(self, list_ref: Reference) -> list[dict]:
        directory = self.root / _filesafe(list_ref)
        if not directory.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(directory.iterdir()) if p.is_file()]

    # -- the commands ----------------------------------------------------------------------
    def create(self, list_name: str, image_names: Sequence[str], amend: bool = False) -> str:
        list_ref = _ref(list_name)
        directory = self.root / _filesafe(list_ref)
        if directory.exists() and not amend:
            raise Conflict("refusing to amend an existing manifest list with no --amend flag")
        entries = [self._describe(_ref(name)) for name in image_names]
        directory.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            _write(directory / _filesafe(parse_normalized(entry["Ref"])), entry)
        return f"Created manifest list {list_ref}"

    def _describe(self, ref: Reference) -> dict:
        """The docker CLI's record of one image: Ref, Descriptor (with platform), Raw, parsed manifest."""
        with connect(ref.domain, insecure_registries=self._registries(ref)) as client:
            try:
                raw, media_type, digest = fetch_manifest(client, ref, ref.digest or ref.tag or "latest")
            except NotFound:
                raise NotFound(f"no such manifest: {ref}") from None
            if media_type in mediatypes.INDEXES:
                raise InvalidArgument(f"{ref} is a manifest list")
            manifest = json_object(raw, f"manifest {digest}")
            config_desc = manifest.get("config") or {}
            resp = client.request("GET", f"/v2/{ref.path}/blobs/{config_desc.get('digest')}",
                                  scopes=(repository_scope(ref.path),))
            if resp.status_code != 200:
                raise client.error(resp, f"config of {ref}")
            config = json_object(resp.content, f"config of {ref}")
        platform = {"architecture": config.get("architecture", ""), "os": config.get("os", "")}
        for key in ("os.version", "os.features", "variant"):
            if config.get(key):
                platform[key] = config[key]
        descriptor = {"mediaType": media_type, "digest": digest, "size": len(raw), "platform": platform}
        key = "OCIManifest" if media_type == mediatypes.OCI_MANIFEST else "SchemaV2Manifest"
        return {"Ref": str(ref), "Descriptor": descriptor, "Raw": base64.b64encode(raw).decode(), key: manifest}

    def annotate(self, list_name: str, image_name: str, *, os: str | None = None, arch: str | None = None,
                 variant: str | None = None, os_features: Sequence[str] = (), os_version: str | None = None) -> None:
        list_ref, image_ref = _ref(list_name), _ref(image_name)
        path = self.root / _filesafe(list_ref) / _filesafe(image_ref)
        if not path.is_file():
            raise NotFound(f"manifest for image {image_ref} does not exist in {list_ref}")
        entry = json.loads(path.read_text())
        platform = entry["Descriptor"].setdefault("platform", {})
        for key, value in (("os", os), ("architecture", arch), ("variant", variant), ("os.version", os_version)):
            if value:
                platform[key] = value
        if os_features:
            platform["os.features"] = list(dict.fromkeys([*(platform.get("os.features") or []), *os_features]))
        if platform.get("architecture") not in _VALID_OS_ARCH.get(platform.get("os", ""), ()):
            raise InvalidArgument(f"manifest entry for image has unsupported os/arch combination: "
                                  f"{platform.get('os', '')}/{platform.get('architecture', '')}")
        entry["Descriptor"]["platform"] = {k: platform[k] for k in ("architecture", "os", "os.version", "os.features",
                                                                   "variant") if platform.get(k)}
        _write(path, entry)

    def inspect(self, name: str, verbose: bool = False, within: str | None = None) -> str:
        """A list assembled here, else what the registry holds; `within`: one image of a local list."""
        ref = _ref(name)
        if within is not None:
            path = self.root / _filesafe(_ref(within)) / _filesafe(ref)
            if not path.is_file():
                raise NotFound(f"No such manifest: {ref}")
            entry = json.loads(path.read_text())
            return json.dumps(entry if verbose else entry.get("OCIManifest") or entry.get("SchemaV2Manifest"),
                              indent="\t")
        entries = self._entries(ref)
        if entries:
            if verbose:
                return json.dumps(entries, indent="\t")
            return _list_bytes(entries).decode()
        with connect(ref.domain, insecure_registries=self._registries(ref)) as client:
            try:
                raw, media_type, digest = fetch_manifest(client, ref, ref.digest or ref.tag or "latest")
            except NotFound:
                raise NotFound(f"no such manifest: {ref}") from None
        doc = json_object(raw, f"manifest {digest}")
        if media_type in mediatypes.INDEXES:
            return json.dumps(doc, indent=3)
        if verbose:
            return json.dumps(self._describe(ref), indent="\t")
        return json.dumps(doc, indent="\t")

    def push(self, name: str, purge: bool = False) -> str:
        ref = _ref(name)
        entries = self._entries(ref)
        if not entries:
            raise NotFound(f"No such manifest: {ref}")
        data = _list_bytes(entries)
        media_type = json.loads(data)["mediaType"]
        scopes = (repository_scope(ref.path, "pull,push"),
                  *{repository_scope(parse_normalized(e["Ref"]).path) for e in entries})
        with connect(ref.domain, insecure_registries=self._registries(ref)) as client:
            for entry in entries:
                source = parse_normalized(entry["Ref"])
                if source.domain != ref.domain:
                    raise InvalidArgument(f"cannot use source images from a different registry than the target "
                                          f"image: {source.domain} != {ref.domain}")
                if source.path != ref.path:
                    _copy_into(client, entry, source, ref, scopes)
            resp = client.request("PUT", f"/v2/{ref.path}/manifests/{ref.tag or ref.digest}", scopes=scopes,
                                  headers={"Content-Type": media_type}, body=data)
            if resp.status_code not in (200, 201):
                raise client.error(resp, f"manifest list {ref}")
        if purge:
            shutil.rmtree(self.root / _filesafe(ref), ignore_errors=True)
        return sha256_digest(data)

    def remove(self, names: Sequence[str]) -> None:
        missing = []
        for name in names:
            directory = self.root / _filesafe(_ref(name))
            if directory.is_dir():
                shutil.rmtree(directory)
            else:
                missing.append(name)
        if missing:
            raise NotFound("\n".join(f"No such manifest: {_ref(n)}" for n in missing))


def _list_bytes(entries: list[dict]) -> bytes:
    """The list as the docker CLI pushes it: an OCI index when any image is OCI, else a Docker list."""
    oci = any(e["Descriptor"]["mediaType"] == mediatypes.OCI_MANIFEST for e in entries)
    manifests = [{"mediaType": e["Descriptor"]["mediaType"], "size": e["Descriptor"]["size"],
                  "digest": e["Descriptor"]["digest"], "platform": e["Descriptor"].get("platform") or {}}
                 for e in entries]
    doc = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX if oci else mediatypes.DOCKER_MANIFEST_LIST,
           "manifests": manifests}
    return json.dumps(doc, indent=3).encode()


def _copy_into(client, entry: dict, source: Reference, target: Reference, scopes: tuple[str, ...]) -> None:
    """An image of the list kept in another repository of the same registry: mount its blobs, put its manifest."""
    manifest = entry.get("OCIManifest") or entry.get("SchemaV2Manifest") or {}
    for desc in [manifest.get("config") or {}, *(manifest.get("layers") or [])]:
        resp = client.request("POST", f"/v2/{target.path}/blobs/uploads/", scopes=scopes,
                              params={"mount": desc["digest"], "from": source.path})
        if resp.status_code != 201:
            raise DockyardError(f"cannot mount blob {desc['digest']} from {source.path} into {target.path}: "
                                f"registry answered {resp.status_code}")
    raw = base64.b64decode(entry["Raw"])
    resp = client.request("PUT", f"/v2/{target.path}/manifests/{entry['Descriptor']['digest']}", scopes=scopes,
                          headers={"Content-Type": entry["Descriptor"]["mediaType"]}, body=raw)
    if resp.status_code not in (200, 201):
        raise client.error(resp, f"manifest {entry['Descriptor']['digest']} in {target.repository}")


def _write(path: Path, entry: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entry, separators=(",", ":")))
    tmp.replace(path)
