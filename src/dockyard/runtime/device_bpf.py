"""Device rules on cgroup v2: the OCI `linux.resources.devices` list as a small eBPF
program of type BPF_PROG_TYPE_CGROUP_DEVICE, assembled here and loaded with bpf(2).

v2 has no devices controller; the kernel instead runs the cgroup's device programs on every
open and mknod of a device node and allows it only when all of them return 1. The program
reads the request (type, access, major, minor) from its context and walks the rules last
first, so the last rule that matches decides, as on v1 and in runc. An allow rule matches
a request whose access it covers entirely, a deny rule one it covers in part (so denying
'w' denies an open for read and write). Nothing matching is a deny.
"""

from __future__ import annotations

import os
import struct

from dockyard.errors import DockyardError

# What runc allows every container after the config's own rules (so they win over them):
# mknod of any node, and the standard character devices null, random, full, tty, zero,
# urandom, the pts, ptmx and tun.
DEFAULT_ALLOWED = [
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
]

# struct bpf_cgroup_dev_ctx: access_type (access << 16 | type), major, minor; all u32
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
_ALL_ACCESS = 7

# registers: R1 the context (then scratch), R2 type, R3 access, R4 major, R5 minor
_R0, _R1, _R2, _R3, _R4, _R5 = range(6)
_LDX_W = 0x61        # BPF_LDX | BPF_MEM | BPF_W
_AND_K = 0x57        # BPF_ALU64 | BPF_AND | BPF_K
_RSH_K = 0x77        # BPF_ALU64 | BPF_RSH | BPF_K
_MOV_K = 0xb7        # BPF_ALU64 | BPF_MOV | BPF_K
_MOV_X = 0xbf        # BPF_ALU64 | BPF_MOV | BPF_X
_JNE_K = 0x55        # BPF_JMP | BPF_JNE | BPF_K
_JEQ_K = 0x15        # BPF_JMP | BPF_JEQ | BPF_K
_EXIT = 0x95         # BPF_JMP | BPF_EXIT
_NEXT = object()     # a jump's offset to the next rule, resolved once the rule is complete

_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
_BPF_F_ALLOW_MULTI = 2
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351,
            "riscv64": 280}


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> tuple:
    return (code, dst, src, off, imm)


def _access_bits(access: str | None) -> int:
    bits = 0
    for letter in access or "rwm":
        if letter not in _ACCESS:
            raise DockyardError(f"linux.resources.devices: invalid access {access!r}")
        bits |= _ACCESS[letter]
    return bits


def _rule_block(rule: dict) -> list[tuple]:
    """Instructions that return the rule's verdict when the request matches it, and fall
    through to the next rule when not."""
    block = []
    kind = rule.get("type") or "a"
    if kind != "a":
        if kind not in _TYPES:
            raise DockyardError(f"linux.resources.devices: invalid type {kind!r}")
        block.append(_insn(_JNE_K, _R2, off=_NEXT, imm=_TYPES[kind]))
    access = _access_bits(rule.get("access"))
    if access != _ALL_ACCESS:
        block.append(_insn(_MOV_X, _R1, _R3))
        if rule.get("allow"):  # matches when the request asks nothing beyond the rule
            block.append(_insn(_AND_K, _R1, imm=_ALL_ACCESS & ~access))
            block.append(_insn(_JNE_K, _R1, off=_NEXT, imm=0))
        else:  # matches when the request asks any of the rule's
            block.append(_insn(_AND_K, _R1, imm=access))
            block.append(_insn(_JEQ_K, _R1, off=_NEXT, imm=0))
    for key, register in (("major", _R4), ("minor", _R5)):
        number = rule.get(key)
        if number is not None and number >= 0:
            block.append(_insn(_JNE_K, register, off=_NEXT, imm=number))
    block.append(_insn(_MOV_K, _R0, imm=1 if rule.get("allow") else 0))
    block.append(_insn(_EXIT))
    return [(c, d, s, len(block) - i - 1 if off is _NEXT else off, imm)
            for i, (c, d, s, off, imm) in enumerate(block)]


def _matches_everything(rule: dict) -> bool:
    return (rule.get("type") or "a") == "a" and _access_bits(rule.get("access")) == _ALL_ACCESS \
        and all(rule.get(key) is None or rule[key] < 0 for key in ("major", "minor"))


def assemble(rules: list[dict]) -> bytes:
    """The program for `rules` (in the config's order, the last match deciding)."""
    program = [
        _insn(_LDX_W, _R2, _R1, 0), _insn(_AND_K, _R2, imm=0xFFFF),
        _insn(_LDX_W, _R3, _R1, 0), _insn(_RSH_K, _R3, imm=16),
        _insn(_LDX_W, _R4, _R1, 4), _insn(_LDX_W, _R5, _R1, 8),
    ]
    for rule in reversed(rules):
        program += _rule_block(rule)
        if _matches_everything(rule):
            break  # the rules before it can never decide
    else:
        program += [_insn(_MOV_K, _R0, imm=0), _insn(_EXIT)]
    return b"".join(struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
                    for code, dst, src, off, imm in program)


def _bpf(command: int, attr) -> int:
    import ctypes  # only when a program is loaded: the module is imported on every command

    machine = os.uname().machine
    if machine not in _SYS_BPF:
        raise DockyardError(f"linux.resources.devices: bpf(2) not known on {machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(ctypes.c_long(_SYS_BPF[machine]), ctypes.c_int(command), attr,
                          ctypes.c_uint(len(attr)))
    if result < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return result


def _load(code: bytes) -> int:
    """BPF_PROG_LOAD; on a refusal, again with the verifier's log for the error."""
    import ctypes

    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")  # the kernel wants a license
    log = None  # no log asked for the first time: logging slows the verifier down
    for log_level in (0, 1):
        if log_level:
            log = ctypes.create_string_buffer(1 << 16)
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("<IIQQIIQII16s", attr, 0, _BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                         ctypes.addressof(insns), ctypes.addressof(license_), log_level,
                         len(log) if log else 0, ctypes.addressof(log) if log else 0, 0, 0,
                         b"dockyard_dev")
        try:
            return _bpf(_BPF_PROG_LOAD, attr)
        except OSError as err:
            failure = err
    # the verifier's last word, before its statistics ("processed N insns ...")
    verifier = [line for line in (log.value.decode(errors="replace").splitlines() if log else [])
                if line.strip() and not line.startswith("processed ")]
    raise DockyardError("linux.resources.devices: cannot load the device program: "
                        f"{failure.strerror}{': ' + verifier[-1] if verifier else ''}")


def apply(directory: str, rules: list[dict]) -> None:
    """Attach the program for `rules`, then runc's defaults, to the v2 cgroup `directory`."""
    import ctypes

    program = _load(assemble(list(rules) + DEFAULT_ALLOWED))
    try:
        cgroup = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = ctypes.create_string_buffer(20)
            struct.pack_into("<IIII", attr, 0, cgroup, program, _BPF_CGROUP_DEVICE,
                             _BPF_F_ALLOW_MULTI)
            _bpf(_BPF_PROG_ATTACH, attr)
        finally:
            os.close(cgroup)
    except OSError as err:
        raise DockyardError(f"linux.resources.devices: cannot attach the device program to "
                            f"{directory}: {err.strerror}") from None
    finally:
        os.close(program)  # the attachment holds the program as long as the cgroup lives
