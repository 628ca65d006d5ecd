"""A root's identity, made by whichever process asks first."""

from __future__ import annotations

from dockyard.store import identity


def test_an_identity_another_process_links_in_meanwhile_is_taken(tmp_path, monkeypatch):
    real = identity.read_root_id
    looked = []

    def racing(root):
        if not looked:  # the other process links its file just after this one looked
            looked.append(root)
            (root / identity.ID_FILE).write_text("0123abcd\n")
            return None
        return real(root)
    monkeypatch.setattr(identity, "read_root_id", racing)
    assert identity.root_id(tmp_path) == "0123abcd"
