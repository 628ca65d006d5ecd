"""The id maps a rootless user's namespace gets from /etc/subuid-style files."""

from __future__ import annotations

from dockyard.rootless import idmaps


def test_ranges_match_the_user_by_name_or_id_in_file_order(tmp_path):
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\nbob:165536:65536\n1001:300000:1000\nbroken line\nalice:x:1\n"
                    "alice:500000:0\n")
    assert idmaps.ranges(str(path), "alice", 1001) == [(100000, 65536), (300000, 1000)]
    assert idmaps.ranges(str(path), "carol", 1002) == []
    assert idmaps.ranges(str(tmp_path / "missing"), "alice", 1001) == []


def test_mapping_puts_the_user_at_zero_and_the_ranges_after_it():
    assert idmaps.mapping(1001, [(100000, 65536)]) == [0, 1001, 1, 1, 100000, 65536]
    assert idmaps.mapping(1001, [(100000, 10), (200000, 5)]) == [0, 1001, 1, 1, 100000, 10, 11, 200000, 5]
