"""`hub library bootstrap`: a base image made without any registry, stored as library/NAME on the hub.

The image is bootstrapped in the hub's build engine root (so builds there already have it)
and published from there into the hub's registry storage: `busybox` as library/busybox:latest,
`debian:bookworm` as library/debian:bookworm.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from dockyard.errors import DockyardError, InvalidArgument


def library_ref(distro: str) -> tuple[str, str]:
    """(repository, tag) on the hub for `busybox` or `debian:SUITE`."""
    name, _, suite = distro.partition(":")
    if name == "busybox" and not suite:
        return "library/busybox", "latest"
    if name == "debian":
        return "library/debian", suite or "bookworm"
    raise InvalidArgument(f"cannot bootstrap {distro!r}: choose busybox or debian:SUITE (e.g. debian:bookworm)")


def _run(argv: list[str], what: str, log: Callable[[str], None]) -> None:
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DockyardError(f"{what} failed: {tail.removeprefix('Error: ')}")


def bootstrap_into_library(root: str | Path, distro: str, mirror: str | None, variant: str,
                           log: Callable[[str], None]) -> tuple[str, str]:
    """Bootstrap `distro` and publish it into the hub at `root`; returns (repo:tag, manifest digest)."""
    from dockyard.hub.builds.engine import image_id as engine_image_id
    from dockyard.hub.publish import publish_built
    from dockyard.hub.runner import DOCKYARD
    from dockyard.hub.state import HubState
    from dockyard.registry.storage import RegistryStorage

    repo, tag = library_ref(distro)
    state = HubState(root)
    engine = ["--root", str(state.engine_root), "--run-dir", str(state.dir / "run")]
    local = f"{repo.removeprefix('library/')}:{tag}"
    extra = [*(["--mirror", mirror] if mirror else []), "--variant", variant]
    log(f"bootstrapping {distro} ...")
    _run([*DOCKYARD, *engine, "image", "bootstrap", *extra, distro], f"bootstrap {distro}", log)
    image = engine_image_id(state.engine_root, f"docker.io/{repo}:{tag}")
    if image is None:
        raise DockyardError(f"bootstrap {distro} left no image {local} in the build engine")
    return f"{repo}:{tag}", publish_built(RegistryStorage(Path(root)), state.engine_root, image, repo, [tag])
