"""Running another architecture's programs: QEMU user emulation through the kernel's binfmt_misc.

Debian's qemu-user-static ships one static emulator per architecture and, for binfmt-support,
a description of the ELF header each one claims (/usr/share/binfmts/qemu-<machine>). When the
handler is not registered yet (a container host without binfmt-support's service, a fresh
boot), we register it from that description, with the `F` flag so the kernel opens the
emulator once and it works inside any mount namespace (a container's rootfs has no qemu).
A handler already registered, by us or anyone else, is left exactly as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.errors import DockyardError

BINFMT = Path("/proc/sys/fs/binfmt_misc")
DESCRIPTIONS = Path("/usr/share/binfmts")
PACKAGES = "qemu-user-static and binfmt-support"

# OCI architecture -> the machine name QEMU and the kernel use
_QEMU_MACHINE = {"arm64": "aarch64", "arm": "arm", "amd64": "x86_64", "386": "i386", "ppc64le": "ppc64le",
                 "s390x": "s390x", "riscv64": "riscv64", "mips64le": "mips64el"}
_HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


class EmulationUnavailable(DockyardError):
    """This host cannot run the architecture's programs."""


def host_architecture() -> str:
    machine = os.uname().machine
    return _HOST_ARCH.get(machine, machine)


def ensure(architecture: str) -> None:
    """Make programs of `architecture` (OCI name: arm64, arm, ...) runnable here, or say what is missing."""
    if architecture == host_architecture():
        return
    import subprocess
    machine = _QEMU_MACHINE.get(architecture)
    if machine is None:
        raise EmulationUnavailable(f"no QEMU user emulation is known for architecture {architecture!r}")
    name = f"qemu-{machine}"
    if not (BINFMT / "register").exists():
        r = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], capture_output=True, text=True)
        if r.returncode and not (BINFMT / "register").exists():
            raise EmulationUnavailable(f"cannot mount binfmt_misc to run {architecture} programs: "
                                       f"{r.stderr.strip() or 'mount failed'}")
    handler = BINFMT / name
    if handler.exists():
        if handler.read_text().splitlines()[:1] != ["enabled"]:
            raise EmulationUnavailable(f"the binfmt_misc handler {name} is disabled: "
                                       f"enable it with `update-binfmts --enable {name}`")
        return
    description = DESCRIPTIONS / name
    if not description.exists():
        raise EmulationUnavailable(f"running {architecture} programs on this {host_architecture()} host needs QEMU "
                                   f"user emulation: install Debian's {PACKAGES} "
                                   f"(apt-get install qemu-user-static binfmt-support)")
    _register(name, description)


def _register(name: str, description: Path) -> None:
    fields: dict[str, str] = {}
    for line in description.read_text().splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value.strip()
    interpreter = fields.get("interpreter", "")
    if not fields.get("magic") or not Path(interpreter).exists():
        raise EmulationUnavailable(f"{description} names no usable emulator: reinstall {PACKAGES}")
    flags = "F" + ("P" if fields.get("preserve") == "yes" else "") + ("C" if fields.get("credentials") == "yes" else "")
    rule = f":{name}:M:{fields.get('offset', '0')}:{fields['magic']}:{fields.get('mask', '')}:{interpreter}:{flags}"
    try:
        (BINFMT / "register").write_text(rule)
    except FileExistsError:  # another process registered it meanwhile
        pass
    except OSError as e:
        if not (BINFMT / name).exists():
            raise EmulationUnavailable(f"cannot register the binfmt_misc handler {name}: {e.strerror}") from None
