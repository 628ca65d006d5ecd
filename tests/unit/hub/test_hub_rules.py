"""Tag rules, webhook signatures, push payloads and the post-receive hook: the hub's small pure parts."""

from __future__ import annotations

import json
import subprocess

import pytest

from dockyard.errors import InvalidArgument
from dockyard.hub import hooks, tagrule

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_tag_rule_expands_branch_and_short_sha():
    assert tagrule.expand("latest", "main", SHA) == ["latest"]
    assert tagrule.expand("{branch}, {branch}-{short_sha}, latest", "feature/x", SHA) == [
        "feature-x", "feature-x-0123456", "latest"]
    assert tagrule.expand("latest,latest", "main", SHA) == ["latest"]


@pytest.mark.parametrize("rule", ["{sha}", " , ", "{branch}:x"])
def test_bad_tag_rules_are_refused_with_one_line(rule):
    with pytest.raises(InvalidArgument) as err:
        tagrule.expand(rule, "main", SHA)
    assert "\n" not in err.value.message


def test_webhook_signature_is_github_compatible():
    body = json.dumps({"ref": "refs/heads/main", "after": SHA}).encode()
    good = hooks.signature("s3cret", body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert hooks.signature_ok("s3cret", body, good)
    assert not hooks.signature_ok("s3cret", body + b" ", good)
    assert not hooks.signature_ok("other", body, good)
    assert not hooks.signature_ok("", body, hooks.signature("", body))  # no secret: nothing is accepted
    assert not hooks.signature_ok("s3cret", body, None)


def test_push_payload_parsing():
    assert hooks.parse_push(json.dumps({"ref": "refs/heads/dev", "after": SHA}).encode()) == ("refs/heads/dev", SHA)
    assert hooks.parse_push(json.dumps({"ref": "refs/tags/v1", "after": SHA}).encode()) == ("refs/tags/v1", SHA)
    for bad in (b"not json", json.dumps({"ref": "refs/pull/1/head", "after": SHA}).encode(),
                json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()):
        with pytest.raises(InvalidArgument):
            hooks.parse_push(bad)


def test_hook_is_installed_executable_and_never_replaces_a_foreign_hook(tmp_path):
    bare = tmp_path / "app.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    assert hooks.local_repository(str(bare)) == bare
    assert hooks.local_repository("https://example.invalid/app.git") is None
    hook = hooks.install_hook(bare, tmp_path / "hub root", "team/app")
    text = hook.read_text()
    assert hook.stat().st_mode & 0o111 and "echo team/app" in text and "'" in text  # the spaced root is quoted
    subprocess.run(["sh", "-n", str(hook)], check=True)
    hook.write_text("#!/bin/sh\necho mine\n")
    with pytest.raises(InvalidArgument):
        hooks.install_hook(bare, tmp_path, "team/app")
    hooks.remove_hook(bare)
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
