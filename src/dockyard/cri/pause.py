"""The pause image every pod sandbox runs: one static `catatonit -P` (Debian's catatonit),
which holds the pod's namespaces and reaps nothing but its own. Made locally on first use,
so a node needs no registry to start pods."""

from __future__ import annotations

import io
import shutil
import tarfile

from dockyard.errors import DockyardError

PAUSE_IMAGE = "dockyard.local/pause:catatonit"


def ensure(images) -> str:
    """The pause image's reference, imported into `images` the first time."""
    if images.find(PAUSE_IMAGE) is None:
        from dockyard.images.importer import import_image
        from dockyard.oci.reference import parse

        binary = shutil.which("catatonit")
        if not binary:
            raise DockyardError("pod sandboxes need catatonit: install Debian's `catatonit` package")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tar.gettarinfo(binary, arcname="catatonit")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(binary, "rb") as f:
                tar.addfile(info, f)
        buf.seek(0)
        import_image(images, buf, ref=parse(PAUSE_IMAGE),
                     container_config={"Entrypoint": ["/catatonit", "-P"]},
                     message="dockyard's pod sandbox pause image")
    return PAUSE_IMAGE
