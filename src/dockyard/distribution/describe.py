"""What a registry holds for a reference, without pulling it: the Engine API's
`GET /distribution/{name}/json` (docker-py's `get_registry_data`).

The answer is the manifest's (or index's) descriptor and the platforms it serves: an index
lists them in its entries, a single manifest's come from its image config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from dockyard.distribution.client import connect, repository_scope
from dockyard.distribution.credentials import Credentials
from dockyard.distribution.pull import MAX_MANIFEST_BYTES, fetch_manifest, json_object
from dockyard.errors import CorruptContent
from dockyard.oci import mediatypes
from dockyard.oci.digest import sha256_digest, validate
from dockyard.oci.reference import Reference

# An OCI platform's fields, in the order and with the names of its JSON form; the first two are never left out.
_PLATFORM_FIELDS = ("architecture", "os", "os.version", "os.features", "variant")


@dataclass(frozen=True)
class RemoteImage:
    descriptor: dict       # mediaType, digest, size of the manifest or index
    platforms: list[dict]  # OCI platform objects, empty fields left out


def describe(ref: Reference, *, credentials: Credentials | None = None,
             insecure_registries: Sequence[str] = ()) -> RemoteImage:
    """The descriptor and platforms of the manifest or index `ref` names (its tag, default latest)."""
    with connect(ref.domain, credentials=credentials, insecure_registries=insecure_registries) as client:
        data, media_type, digest = fetch_manifest(client, ref, ref.digest or ref.tag or "latest")
        manifest = json_object(data, f"manifest {digest}")
        if media_type in mediatypes.INDEXES:
            platforms = [_platform(e.get("platform")) for e in manifest.get("manifests") or [] if isinstance(e, dict)]
        else:
            config = manifest.get("config") or {}
            config_digest = validate(config.get("digest", ""))
            subject = f"config {config_digest} in {ref.repository}"
            resp = client.request("GET", f"/v2/{ref.path}/blobs/{config_digest}", scopes=(repository_scope(ref.path),))
            if resp.status_code != 200:
                raise client.error(resp, subject)
            if len(resp.content) > MAX_MANIFEST_BYTES or sha256_digest(resp.content) != config_digest:
                raise CorruptContent(f"{subject} from {ref.domain} failed verification: digest mismatch")
            platform = _platform(json_object(resp.content, subject))
            platforms = [platform] if platform["os"] or platform["architecture"] else []
    return RemoteImage({"mediaType": media_type, "digest": digest, "size": len(data)}, platforms)


def _platform(doc: object) -> dict:
    """The platform of an index entry or an image config: architecture and os always, the
    optional fields when set (the omitempty of the OCI platform's JSON)."""
    doc = doc if isinstance(doc, dict) else {}
    return {k: doc.get(k) or "" for k in _PLATFORM_FIELDS[:2]} | {k: doc[k] for k in _PLATFORM_FIELDS[2:] if doc.get(k)}
