"""Debian packages of another architecture, fetched by apt with an apt state of their own.

The host's apt knows only its own architecture (and its sources may name repositories that
have nothing for others), so each architecture gets a directory of its own under
/var/cache/dockyard/apt-<arch>: a sources file naming the host's Debian mirror and suite,
the package lists, and the downloaded .debs. The host's apt state is never touched.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

from dockyard.errors import DockyardError, NotFound

CACHE = Path(os.environ.get("DOCKYARD_APT_CACHE", "/var/cache/dockyard"))
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def host_suite() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"') or "bookworm"
    return "bookworm"


def fetch_package(package: str, architecture: str, mirror: str, dest: Path) -> Path:
    """Download `package` for `architecture` from `mirror` and unpack it into `dest`; returns `dest`."""
    state = CACHE / f"apt-{architecture}"
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "sources").mkdir(exist_ok=True)
    (state / "status").touch()
    suite = host_suite()
    (state / "sources" / "debian.sources").write_text(
        f"Types: deb\nURIs: {mirror}\nSuites: {suite}\nComponents: main\n"
        f"Architectures: {architecture}\nSigned-By: {KEYRING}\n")
    options = [
        "-o", f"APT::Architecture={architecture}", "-o", f"APT::Architectures={architecture}",
        "-o", f"Dir::State={state}", "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::State::status={state / 'status'}", "-o", f"Dir::Cache={state}",
        "-o", f"Dir::Cache::Archives={state / 'archives'}", "-o", "Dir::Etc::SourceList=/dev/null",
        "-o", f"Dir::Etc::SourceParts={state / 'sources'}", "-o", "Debug::NoLocking=1",
        "-o", "APT::Sandbox::User=root",
    ]
    with open(state / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one apt per architecture at a time
        debs = sorted((state / "archives").glob(f"{package}_*_{architecture}.deb"))
        if not debs:
            update = ["apt-get", *options, "update"], f"updating the {architecture} package lists from {mirror}"
            download = ["apt-get", *options, "download", package], f"downloading {package} for {architecture}"
            if not list((state / "lists").glob("*_Packages*")):
                _apt(*update)
            try:
                _apt(*download, cwd=state / "archives")
            except DockyardError:  # lists kept from an earlier run may name a version the mirror dropped
                _apt(*update)
                _apt(*download, cwd=state / "archives")
            debs = sorted((state / "archives").glob(f"{package}_*_{architecture}.deb"))
    if not debs:
        raise NotFound(f"{mirror} has no {package} package for {architecture}")
    dest.mkdir(parents=True, exist_ok=True)
    _apt(["dpkg-deb", "-x", str(debs[-1]), str(dest)], f"unpacking {debs[-1].name}")
    return dest


def _apt(argv: list[str], doing: str, cwd: Path | None = None) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if r.returncode:
        lines = [l for l in (r.stderr + r.stdout).splitlines() if l.strip()]
        raise DockyardError(f"{doing} failed: {lines[-1] if lines else f'exit {r.returncode}'}")
