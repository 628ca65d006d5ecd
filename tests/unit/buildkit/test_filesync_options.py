"""File sync's call options as BuildKit encodes them, and Go file modes to Unix permissions."""

from dockyard.buildkit.filesync import _metadata, _perm


def test_metadata_plain_and_escaped():
    md = _metadata("context", [], ["*.log", "!keep.log"], [])
    assert md == {"dir-name": ["context"], "exclude-patterns": ["*.log", "!keep.log"]}
    md = _metadata("context", ["naïve dir/*"], [], ["Dockerfile"])
    assert md["include-patterns"] == ["na%C3%AFve%20dir/%2A"] and md["include-patterns-encoded"] == ["1"]
    assert md["followpaths"] == ["Dockerfile"] and "followpaths-encoded" not in md


def test_go_file_modes():
    assert _perm(0o755) == 0o755
    assert _perm((1 << 23) | 0o755) == 0o4755          # setuid
    assert _perm((1 << 22) | (1 << 20) | 0o775) == 0o3775  # setgid, sticky
    assert _perm((1 << 31) | 0o700) == 0o700          # a directory: the type bit is not a permission
