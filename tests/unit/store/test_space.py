"""min-free-space as daemon.json gives it, and the guard's arithmetic against a real statvfs."""

from __future__ import annotations

import os

import pytest

from dockyard.errors import InvalidArgument, NoSpace
from dockyard.store.space import DEFAULT_BYTES, Reserve


@pytest.mark.parametrize("value, fixed, percent", [
    ("1GiB", 1 << 30, 0.0), ("512MB", 512 << 20, 0.0), ("64m", 64 << 20, 0.0), ("2.5g", int(2.5 * (1 << 30)), 0.0),
    (1000, 1000, 0.0), ("5%", 0, 5.0), ("0.5 %", 0, 0.5), (0, 0, 0.0), ("0", 0, 0.0),
])
def test_settings(tmp_path, value, fixed, percent):
    r = Reserve.parse(tmp_path, value)
    assert (r.fixed, r.percent) == (fixed, percent)
    assert r.enabled == bool(fixed or percent)


@pytest.mark.parametrize("value", ["lots", "-1", -1, "100%", "1.5x", True, [1], "5 %%"])
def test_bad_settings_are_one_clear_line(tmp_path, value):
    with pytest.raises(InvalidArgument, match=r"invalid min-free-space .* in daemon.json: use a size"):
        Reserve.parse(tmp_path, value)


def test_default_is_a_gib_or_five_percent_of_a_small_filesystem(tmp_path):
    r = Reserve.parse(tmp_path, None)
    st = os.statvfs(tmp_path)
    assert r.keep(st) == min(DEFAULT_BYTES, int(st.f_blocks * st.f_frsize * 0.05))


def test_guard_looks_every_few_megabytes_and_refuses_what_does_not_fit(tmp_path):
    st = os.statvfs(tmp_path)
    free = st.f_bavail * st.f_frsize
    guard = Reserve(str(tmp_path), fixed=free // 2, setting="half").guard("thing")
    guard.charge(1 << 20)  # far from the reserve: fine
    with pytest.raises(NoSpace, match=r"^thing: stopped after writing 1\.0 MiB, needing .* min-free-space \(half\)"):
        guard.charge(free)
    off = Reserve(str(tmp_path)).guard("thing")
    off.charge(free * 4)  # no reserve: never refuses (the disk's own ENOSPC still stops writes)
