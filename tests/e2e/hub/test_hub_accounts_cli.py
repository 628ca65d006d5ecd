"""`dockyard hub user|org|grant|token|audit`: local administration of the accounts, and its one-line errors."""

from __future__ import annotations

from tests.integration.hub.hub_harness import hub_cli


def test_accounts_are_administered_from_the_command_line(tmp_path):
    root = tmp_path / "hub"
    assert hub_cli(root, "user", "add", "ann", "--admin", "--password-stdin", stdin="ann-password\n").stdout == "user ann added\n"
    hub_cli(root, "user", "add", "bob", "--password-stdin", stdin="bob-password\n")
    hub_cli(root, "org", "add", "acme", "--owner", "ann")
    hub_cli(root, "org", "team", "acme", "devs")
    hub_cli(root, "org", "member", "acme", "devs", "bob")
    assert "  devs: bob" in hub_cli(root, "org", "ls").stdout
    assert hub_cli(root, "grant", "acme/app", "team:acme/devs", "write").stdout == "team:acme/devs: write on acme/app\n"
    assert hub_cli(root, "user", "ls").stdout == "ann  (site admin)\nbob\n"
    secret = hub_cli(root, "token", "create", "bob", "--name", "ci", "--scope", "repo:read", "--expires", "7").stdout.strip()
    assert secret.startswith("dyp_")
    listed = hub_cli(root, "token", "ls", "bob").stdout
    assert "repo:read" in listed and "active" in listed and secret not in listed
    token_id = listed.splitlines()[1].split()[0]
    hub_cli(root, "token", "revoke", "bob", token_id)
    assert "revoked" in hub_cli(root, "token", "ls", "bob").stdout
    hub_cli(root, "user", "rm", "bob")
    log = hub_cli(root, "audit").stdout
    for action in ("user-add", "org-add", "team-add", "member-add", "grant", "token-create", "token-revoke", "user-remove"):
        assert f" {action} " in log, action

    for args, message in ((("user", "add", "Bad/Name", "--password-stdin"), "invalid user name 'Bad/Name'"),
                          (("user", "add", "acme", "--password-stdin"), "the name 'acme' is taken"),
                          (("user", "add", "cid", "--password-stdin"), "at least 8 characters"),
                          (("grant", "acme/app", "user:nobody", "read"), "no 'user:nobody'"),
                          (("org", "member", "acme", "owners", "ann", "--remove"), "last owner"),
                          (("token", "revoke", "ann", "nope"), "no active token")):
        proc = hub_cli(root, *args, check=False, stdin="short\n" if "cid" in args else "long-enough-pw\n")
        assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
