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


def _fsutil_order_ok(paths: list[str]) -> bool:
    """fsutil's receiver check (its Validator): each entry after its directory, names in byte
    order within a directory, a directory's whole subtree before its next sibling."""
    stack = [("", "")]  # (directory, last name seen in it)
    for path in paths:
        directory, _, name = path.rpartition("/")
        while stack and stack[-1][0] != directory:
            stack.pop()
        if not stack or stack[-1][1] >= name:
            return False
        stack[-1] = (directory, name)
        stack.append((path, ""))  # if it is a directory, its entries come next
    return True


def test_walk_order_is_what_fsutil_receivers_accept(tmp_path):
    from dockyard.buildkit.filesync import _walk

    for name in ("a", "a.txt", "a-b", "B", "a/z", "a/b", "a/b/c"):
        path = tmp_path / name
        if "." in name or name.endswith(("z", "c")) or name == "a-b":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)
        else:
            path.mkdir(parents=True, exist_ok=True)
    paths = [rel for rel, _, _ in _walk(tmp_path)]
    assert paths == ["B", "a", "a/b", "a/b/c", "a/z", "a-b", "a.txt"]
    assert _fsutil_order_ok(paths) and not _fsutil_order_ok(["a", "a-b", "a/b"])


def test_stats_links_modes_and_files_to_send(tmp_path):
    import os

    from dockyard.buildkit.filesync import _DIR, _SETUID, _SYMLINK, _stats

    (tmp_path / "d").mkdir(mode=0o750)
    os.chmod(tmp_path / "d", 0o750)
    (tmp_path / "d" / "f").write_text("x")
    os.chmod(tmp_path / "d" / "f", 0o4755)
    os.link(tmp_path / "d" / "f", tmp_path / "d" / "g")
    os.symlink("f", tmp_path / "d" / "l")
    packets, files = _stats(tmp_path)
    by_path = {p.stat.path: (number, p.stat) for number, p in enumerate(packets)}
    assert by_path["d"][1].mode == _DIR | 0o750
    assert by_path["d/f"][1].mode == _SETUID | 0o755 and by_path["d/f"][1].size == 1
    assert by_path["d/g"][1].linkname == "d/f"          # a second name: a hard link, no data
    assert by_path["d/l"][1].mode & _SYMLINK and by_path["d/l"][1].linkname == "f"
    assert files == {by_path["d/f"][0]: tmp_path / "d" / "f"}
