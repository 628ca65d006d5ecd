"""The cgroup v2 device program as assembled (what it does in a container is tested in
tests/integration/runtime/test_spec_conformance.py, with real opens and mknods)."""

from __future__ import annotations

import os
import struct

import pytest

from dockyard.errors import DockyardError
from dockyard.runtime import device_bpf


def instructions(code: bytes) -> list[tuple[int, int, int, int]]:
    """(opcode, registers, offset, immediate) of each 8-byte instruction."""
    return [struct.unpack_from("<BBhi", code, i) for i in range(0, len(code), 8)]


def test_no_rule_denies_everything():
    program = instructions(device_bpf.assemble([]))
    assert len(program) == 8  # 6 loading the context, then r0 = 0; exit
    assert program[-2:] == [(0xb7, 0, 0, 0), (0x95, 0, 0, 0)]


def test_rules_are_checked_last_first_and_a_catch_all_ends_the_walk():
    program = instructions(device_bpf.assemble([
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # never reached
        {"allow": True, "access": "rwm"},
        {"allow": False, "type": "b", "major": 8, "access": "w"},
    ]))
    body = program[6:]
    # the last rule first: type b (1), access overlapping w (4), major 8, then deny
    assert body[0] == (0x55, 0x02, 6, 1)
    assert body[1:3] == [(0xbf, 0x31, 0, 0), (0x57, 0x01, 0, 4)]
    assert body[3] == (0x15, 0x01, 3, 0)
    assert body[4] == (0x55, 0x04, 2, 8)
    assert body[5:7] == [(0xb7, 0, 0, 0), (0x95, 0, 0, 0)]
    # then the catch-all allow, and nothing after it
    assert body[7:] == [(0xb7, 0, 0, 1), (0x95, 0, 0, 0)]


def test_an_allow_rule_must_cover_the_whole_request():
    body = instructions(device_bpf.assemble([{"allow": True, "type": "c", "major": 10,
                                              "minor": 229, "access": "r"}]))[6:]
    # request & ~r (m|w = 5) must be 0, or the rule does not match
    assert body[1:4] == [(0xbf, 0x31, 0, 0), (0x57, 0x01, 0, 5), (0x55, 0x01, 4, 0)]


@pytest.mark.parametrize("rule, word", [({"allow": True, "type": "c", "access": "rx"}, "access"),
                                        ({"allow": True, "type": "p", "access": "r"}, "type")])
def test_bad_rules_are_refused_by_name(rule, word):
    with pytest.raises(DockyardError, match=f"^linux.resources.devices: invalid {word}"):
        device_bpf.assemble([rule])


@pytest.mark.skipif(os.geteuid() != 0, reason="bpf(2) needs root")
def test_a_program_the_kernel_refuses_says_why():
    no_exit = struct.pack("<BBhi", 0xb7, 0, 0, 1)  # r0 = 1, and no exit
    with pytest.raises(DockyardError, match="^linux.resources.devices: cannot load the device "
                                            "program: .+: .+"):
        device_bpf._load(no_exit)
