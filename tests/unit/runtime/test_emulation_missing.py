"""The error a user gets when QEMU user emulation is not installed names the packages to install."""

import pytest

from dockyard import emulation


def test_missing_emulator_names_the_packages(tmp_path, monkeypatch):
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    (binfmt / "register").write_text("")
    monkeypatch.setattr(emulation, "BINFMT", binfmt)                 # a kernel with no handler registered
    monkeypatch.setattr(emulation, "DESCRIPTIONS", tmp_path / "none")  # and no qemu-user-static installed
    foreign = "s390x" if emulation.host_architecture() != "s390x" else "arm64"
    with pytest.raises(emulation.EmulationUnavailable) as e:
        emulation.ensure(foreign)
    assert "install Debian's qemu-user-static and binfmt-support" in e.value.message
    emulation.ensure(emulation.host_architecture())  # the host's own needs nothing


def test_unknown_architecture_is_refused():
    with pytest.raises(emulation.EmulationUnavailable, match="no QEMU user emulation is known"):
        emulation.ensure("pdp11")
