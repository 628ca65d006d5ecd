"""The CRI's ImageService over dockyard's image store: the kubelet's images are dockyard's."""

from __future__ import annotations

import os
import time

from dockyard.errors import NotFound


class Images:
    def __init__(self, engine, pb) -> None:
        self.engine, self.pb = engine, pb

    def _message(self, img):
        """Tags and digests fully qualified (docker.io/library/busybox:latest), as containerd
        lists them; the pause image pinned, so the kubelet's image GC leaves it."""
        from dockyard.cri.pause import PAUSE_IMAGE
        cfg = (self.engine.images.config(img).get("config") or {})
        uid, username = _user(cfg.get("User") or "")
        return self.pb.Image(id=img.id, repo_tags=img.tags, repo_digests=img.repo_digests, size=img.size,
                             uid=self.pb.Int64Value(value=uid) if uid is not None else None,
                             username=username, spec=self.pb.ImageSpec(image=img.id),
                             pinned=PAUSE_IMAGE in img.tags)

    def list(self, flt):
        wanted = flt.image.image if flt.HasField("image") else ""
        out = []
        for img in self.engine.images.list():
            if wanted:
                found = self.engine.images.find(wanted)
                if found is None or found.id != img.id:
                    continue
            out.append(self._message(img))
        return out

    def status(self, ref: str, verbose: bool):
        img = self.engine.images.find(ref) if ref else None
        if img is None:
            return self.pb.ImageStatusResponse()  # absent: no image and no error, as the CRI says
        info = {}
        if verbose:
            import json
            info["info"] = json.dumps({"imageSpec": self.engine.images.config(img)})
        return self.pb.ImageStatusResponse(image=self._message(img), info=info)

    def pull(self, ref: str, auth) -> str:
        from dockyard.distribution.credentials import Credentials
        from dockyard.distribution.images import pull_image
        from dockyard.oci.reference import parse_normalized

        creds = None
        if auth.username or auth.password or auth.auth or auth.identity_token or auth.registry_token:
            username, password = auth.username, auth.password
            if auth.auth and not username:
                import base64
                username, _, password = base64.b64decode(auth.auth).decode().partition(":")
            creds = Credentials(username=username, password=password, identity_token=auth.identity_token,
                                registry_token=auth.registry_token)
        pulled = pull_image(self.engine.images, parse_normalized(ref), credentials=creds,
                            insecure_registries=self.engine.insecure_registries, mirrors=self.engine.registry_mirrors)
        return pulled.image.id

    def remove(self, ref: str) -> None:
        """An image ID removes the image; a name, that name (the image stays while other names
        hold it). Removing an absent image is no error in the CRI."""
        try:
            self.engine.images.remove(ref, force=True)
        except NotFound:
            pass

    def fs_info(self):
        pb = self.pb
        path = self.engine.snapshots.root
        used = inodes = 0
        for dirpath, dirnames, filenames in os.walk(path):
            inodes += len(dirnames) + len(filenames)
            for n in filenames:
                try:
                    used += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
                except OSError:
                    pass
        usage = pb.FilesystemUsage(timestamp=time.time_ns(), fs_id=pb.FilesystemIdentifier(mountpoint=str(path)),
                                   used_bytes=pb.UInt64Value(value=used), inodes_used=pb.UInt64Value(value=inodes))
        return pb.ImageFsInfoResponse(image_filesystems=[usage])


def _user(user: str) -> tuple[int | None, str]:
    """The image's USER as the CRI's uid or username (a group part is not the CRI's concern)."""
    name = user.split(":", 1)[0]
    if not name:
        return None, ""
    return (int(name), "") if name.isdigit() else (None, name)
