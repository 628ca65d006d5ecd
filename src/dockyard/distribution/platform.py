"""Choosing one image from a multi-platform index (OCI index or Docker manifest list).

Registries publish one manifest per os/architecture/variant. We pick the host's own, or
the one the user asked for (`--platform linux/arm64/v8`), treating the variant defaults
Docker treats as equal (arm64 = arm64/v8, amd64 = amd64/v1) and, when no exact variant
exists, the best older variant the CPU can still run (arm/v7 runs v6 and v5 images).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, NotFound

_MACHINES = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "armv5tel": ("arm", "v5"),
    "i386": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": "v1"}
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "i386": "386"}


@dataclass(frozen=True)
class Platform:
    """os/architecture[/variant], normalised so equal platforms compare equal."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def normalized(self) -> "Platform":
        arch = _ARCH_ALIASES.get(self.architecture.lower(), self.architecture.lower())
        variant = self.variant.lower() or _DEFAULT_VARIANT.get(arch, "")
        return Platform(self.os.lower(), arch, variant)


def parse_platform(text: str) -> Platform:
    """`linux/arm64/v8`, `linux/amd64` or just `arm64` (os defaults to linux)."""
    parts = [p for p in text.strip().split("/")]
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    if len(parts) == 1:
        parts = ["linux", parts[0]]
    return Platform(*parts).normalized()


def host_platform() -> Platform:
    """The platform this machine runs natively."""
    machine = os.uname().machine
    arch, variant = _MACHINES.get(machine, (machine, ""))
    return Platform("linux", arch, variant).normalized()


def _variant_rank(variant: str) -> int:
    digits = variant.lstrip("v")
    return int(digits) if digits.isdigit() else -1


def select_manifest(index: dict, wanted: Platform | None = None) -> dict:
    """The index entry to pull for `wanted` (default: the host), or NotFound naming the platform."""
    want = (wanted or host_platform()).normalized()
    best: tuple[int, dict] | None = None
    for entry in index.get("manifests") or []:
        p = entry.get("platform") or {}
        have = Platform(p.get("os", ""), p.get("architecture", ""), p.get("variant", "")).normalized()
        if (have.os, have.architecture) != (want.os, want.architecture):
            continue
        if have.variant == want.variant:
            return entry
        rank = _variant_rank(have.variant)
        if 0 <= rank < _variant_rank(want.variant) and (best is None or rank > best[0]):
            best = (rank, entry)
    if best is None:
        raise NotFound(f"no matching manifest for {want} in the manifest list entries")
    return best[1]
