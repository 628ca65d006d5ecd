"""Platforms (os/architecture/variant) and choosing one image from a multi-platform index.

Registries publish one manifest per os/architecture/variant. We pick the host's own, or
the one the user asked for (`--platform linux/arm64/v8`), treating the variant defaults
Docker treats as equal (arm64 = arm64/v8, amd64 = amd64/v1) and, when no exact variant
exists, the best older variant the CPU can still run (arm/v7 runs v6 and v5 images).
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument, NotFound
from dockyard.plainclass import plainclass

_MACHINES = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "armv5tel": ("arm", "v5"),
    "i386": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": "v1"}
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "i386": "386"}


@plainclass(frozen=True)
class Platform:
    """os/architecture[/variant], normalised so equal platforms compare equal."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        """As docker prints it: `linux/arm64/v8`, `linux/amd64` (amd64's v1 is left out)."""
        variant = "" if (self.architecture, self.variant) == ("amd64", "v1") else self.variant
        return "/".join(p for p in (self.os, self.architecture, variant) if p)

    def as_dict(self) -> dict:
        """The OCI `platform` object (and the os/architecture/variant fields of an image config)."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant and (self.architecture, self.variant) != ("amd64", "v1"):
            out["variant"] = self.variant
        return out

    def matches(self, other: "Platform") -> bool:
        """Equal once both are normalised (arm64 = arm64/v8, amd64 = amd64/v1)."""
        return self.normalized() == other.normalized()

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


def of_document(doc: dict) -> Platform:
    """The platform an image config (`architecture`, `os`, `variant`) or an index entry's
    `platform` object names, normalised."""
    return Platform(doc.get("os", "") or "", doc.get("architecture", "") or "", doc.get("variant", "") or "").normalized()


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
        have = of_document(entry.get("platform") or {})
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
