"""Seccomp: Docker-format profiles rendered into the OCI `linux.seccomp` section, and that
section compiled and loaded through libseccomp.

Profiles use Docker's JSON format (`syscalls` entries with `includes`/`excludes` on caps and
arches) so `--security-opt seccomp=profile.json` files written for Docker work unchanged.
The default profile (seccomp_default.json) allows what a normal program needs and gates the
rest on the capabilities the container holds.

libseccomp is used through Debian's python3-seccomp extension, loaded by file path: the venv
has no system site-packages, and putting /usr/lib/python3/dist-packages on sys.path would
shadow the venv's own packages. It loads in about a millisecond.

Building and loading a Docker-sized filter through libseccomp takes ~10 ms, every container
start; the BPF program it generates depends on the profile alone, so `cached_program` keeps
it on disk and the container's init loads it with one prctl.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

from dockyard.errors import DockyardError, InvalidArgument

DEFAULT_PROFILE = Path(__file__).with_name("seccomp_default.json")

# the kernel's machine name (uname -m) -> (Docker arch name, seccomp arch)
_NATIVE = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
}


def default_profile() -> dict:
    """Docker's default profile, as shipped with dockyard."""
    return json.loads(DEFAULT_PROFILE.read_text())


def render(profile: dict, capabilities: list[str], machine: str | None = None) -> dict:
    """The OCI `linux.seccomp` object for a container holding `capabilities` on `machine`:
    entries whose includes/excludes do not match are left out, the rest kept in order."""
    docker_arch, native = _NATIVE.get(machine or os.uname().machine, _NATIVE["x86_64"])
    caps = set(capabilities)
    architectures: list[str] = []
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == native:
            architectures = [native] + list(entry.get("subArchitectures") or [])
    architectures = architectures or list(profile.get("architectures") or [native])

    def matches(entry: dict) -> bool:
        inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
        if inc.get("arches") and docker_arch not in inc["arches"]:
            return False
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            return False
        if exc.get("arches") and docker_arch in exc["arches"]:
            return False
        return not (exc.get("caps") and set(exc["caps"]) & caps)

    syscalls = []
    for entry in profile.get("syscalls") or []:
        if not matches(entry):
            continue
        names = entry.get("names") or ([entry["name"]] if entry.get("name") else [])
        rule: dict[str, Any] = {"names": names, "action": entry["action"]}
        for key in ("args", "errnoRet"):
            if entry.get(key):
                rule[key] = entry[key]
        syscalls.append(rule)
    result = {"defaultAction": profile["defaultAction"], "architectures": architectures,
              "syscalls": syscalls}
    if "defaultErrnoRet" in profile:
        result["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return result


def load_profile_option(value: str) -> dict | None:
    """The profile named by `--security-opt seccomp=VALUE`: 'unconfined' (None), a JSON
    document (what the docker CLI sends) or a path to one."""
    if value == "unconfined":
        return None
    text = value
    if not value.lstrip().startswith("{"):
        try:
            text = Path(value).read_text()
        except OSError as err:
            raise InvalidArgument(f"cannot read seccomp profile {value}: {err.strerror}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidArgument(f"seccomp profile is not valid JSON: {err}")


@functools.cache
def libseccomp() -> ModuleType:
    """Debian's `seccomp` extension module, imported from its file."""
    import importlib.machinery
    import importlib.util

    pattern = "/usr/lib/python3/dist-packages/seccomp.cpython-%d%d-*.so" % sys.version_info[:2]
    paths = glob.glob(pattern)
    if not paths:
        raise DockyardError("seccomp needs libseccomp's Python binding: apt-get install python3-seccomp")
    loader = importlib.machinery.ExtensionFileLoader("seccomp", paths[0])
    spec = importlib.util.spec_from_file_location("seccomp", paths[0], loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def compile_filter(config: dict) -> Any:
    """A libseccomp filter for an OCI `linux.seccomp` object, built but not loaded, so it
    can be made while the host's libraries are reachable and loaded just before exec.

    Loading does not set no_new_privs: the caller decides that from the process spec, and
    loads while still holding CAP_SYS_ADMIN when no_new_privs is off."""
    sc = libseccomp()
    default_errno = config.get("defaultErrnoRet", 1)

    def action(name: str, errno_ret: int | None) -> Any:
        if name == "SCMP_ACT_ERRNO":
            return sc.ERRNO(default_errno if errno_ret is None else errno_ret)
        if name == "SCMP_ACT_TRACE":
            return sc.TRACE(default_errno if errno_ret is None else errno_ret)
        simple = {"SCMP_ACT_ALLOW": sc.ALLOW, "SCMP_ACT_KILL": sc.KILL,
                  "SCMP_ACT_KILL_THREAD": sc.KILL, "SCMP_ACT_KILL_PROCESS": sc.KILL_PROCESS,
                  "SCMP_ACT_TRAP": sc.TRAP, "SCMP_ACT_LOG": sc.LOG}
        if name not in simple:
            raise InvalidArgument(f"unsupported seccomp action {name}")
        return simple[name]

    ops = {"SCMP_CMP_NE": sc.NE, "SCMP_CMP_LT": sc.LT, "SCMP_CMP_LE": sc.LE,
           "SCMP_CMP_EQ": sc.EQ, "SCMP_CMP_GE": sc.GE, "SCMP_CMP_GT": sc.GT,
           "SCMP_CMP_MASKED_EQ": sc.MASKED_EQ}
    filt = sc.SyscallFilter(defaction=action(config["defaultAction"], None))
    filt.set_attr(sc.Attr.CTL_NNP, 0)
    native = sc.system_arch()
    for arch in config.get("architectures") or []:
        arch_id = getattr(sc.Arch, arch.removeprefix("SCMP_ARCH_"), None)
        if arch_id is not None and arch_id != native:
            try:
                filt.add_arch(arch_id)
            except (RuntimeError, ValueError, OSError):
                pass  # an architecture this kernel/libseccomp cannot filter
    for rule in config.get("syscalls") or []:
        act = action(rule["action"], rule.get("errnoRet"))
        args = [sc.Arg(a["index"], ops[a["op"]], a.get("value", 0), a.get("valueTwo", 0))
                for a in rule.get("args") or []]
        for name in rule["names"]:
            try:
                filt.add_rule(act, name, *args)
            except (RuntimeError, ValueError, OSError):
                pass  # syscall unknown on this architecture, as runc ignores it too
    return filt


def cached_program(config: dict, cache_dir: str) -> bytes:
    """The BPF program libseccomp makes of an OCI `linux.seccomp` object, made once per
    profile and kept in `cache_dir`. A cache entry is named by a CRC of the profile and holds
    the profile itself, compared in full before the program is trusted."""
    text = json.dumps(config, sort_keys=True)
    base = os.path.join(cache_dir, "%08x-%d" % (zlib.crc32(text.encode()), len(text)))
    try:
        with open(base + ".json") as f:
            if f.read() == text:
                with open(base + ".bpf", "rb") as b:
                    return b.read()
    except FileNotFoundError:
        pass
    filt = compile_filter(config)
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    tmp = f"{base}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        filt.export_bpf(f)
    with open(tmp, "rb") as f:
        program = f.read()
    os.replace(tmp, base + ".bpf")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, base + ".json")  # last: an entry is whole once its profile is there
    return program
