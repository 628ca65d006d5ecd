"""Build rules as Docker Hub has them: matching branches and tags by name or expression, tag
templates with {sourceref} and groups, the rule store with its variables and cancel requests."""

from __future__ import annotations

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.hub import tagrule
from dockyard.hub.builds import library, rules
from dockyard.hub.builds.rules import Rule
from dockyard.hub.builds.store import CANCELLED, MASK, BuildBook
from dockyard.hub.builds.trigger import queue_push
from dockyard.hub.failure import failing_log_line
from dockyard.hub.state import HubState, Source

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_release_rule_turns_v1_2_3_into_three_tags():
    rule = Rule(1, "team/app", rules.TAG, rules.RELEASE_PATTERN, "Dockerfile", ".", rules.RELEASE_TAGS)
    name, groups = rule.match("refs/tags/v1.2.3")
    assert rule.tags_for(name, SHA, groups) == ["1.2.3", "1.2", "latest"]
    assert rule.match("refs/tags/1.10.0") is not None
    assert rule.match("refs/heads/v1.2.3") is None  # a branch is not a tag
    assert rule.match("refs/tags/v1.2") is None


def test_named_and_regex_branch_rules_and_sourceref():
    named = Rule(1, "r", rules.BRANCH, "main", "Dockerfile", ".", "latest,{sourceref}-{short_sha}")
    assert named.match("refs/heads/main") == ("main", ())
    assert named.match("refs/heads/mainline") is None
    assert named.tags_for("main", SHA) == ["latest", "main-0123456"]
    regex = Rule(2, "r", rules.BRANCH, "/^feature/(.+)$/", "Dockerfile", ".", "{sourceref},feat-{\\1}")
    name, groups = regex.match("refs/heads/feature/login")
    assert regex.tags_for(name, SHA, groups) == ["feature-login", "feat-login"]


@pytest.mark.parametrize("args", [
    ("commit", "main", "Dockerfile", ".", "latest"),          # unknown source type
    ("tag", "/([0-9/", "Dockerfile", ".", "latest"),          # bad expression
    ("tag", "/^v(.*)$/", "Dockerfile", ".", "{\\2}"),          # group the expression lacks
    ("branch", "main", "../Dockerfile", ".", "latest"),        # outside the repository
    ("branch", "main", "Dockerfile", ".", "{nope}"),           # unknown placeholder
])
def test_bad_rules_are_refused_with_one_line(args):
    with pytest.raises(InvalidArgument) as err:
        rules.validate(*args)
    assert "\n" not in err.value.message


def test_tag_template_groups_must_exist():
    with pytest.raises(InvalidArgument):
        tagrule.expand("{\\1}", "main", SHA)


def test_store_rules_vars_queue_and_cancel(tmp_path):
    state = HubState(tmp_path)
    state.add_source(Source("team/app", "/nowhere", "main", "Dockerfile", ".", "latest", ""))
    book = BuildBook(state)
    assert [r.id for r in book.rules("team/app")] == [0]  # the source's own branch rule
    tag_rule = book.add_rule("team/app", rules.TAG, rules.RELEASE_PATTERN, tags=rules.RELEASE_TAGS)
    own, added = book.rules("team/app")
    assert (own.source_type, own.source, own.tags) == ("branch", "main", "latest") and added == tag_rule

    assert queue_push(book, "team/app", "refs/heads/dev", SHA) == []
    [(branch_build, _)] = queue_push(book, "team/app", "main", SHA)
    [(tag_build, rule)] = queue_push(book, "team/app", "refs/tags/v2.0.1", SHA)
    assert rule == tag_rule and state.build(tag_build).branch == "v2.0.1"
    assert book.meta(tag_build).ref_type == "tag" and book.meta(tag_build).rule == tag_rule.id
    assert [b.id for b in book.rule_builds("team/app")[tag_rule.id]] == [tag_build]

    book.set_var("team/app", "VERSION", "1", secret=False)
    book.set_var("team/app", "TOKEN", "s3cr3t", secret=True)
    assert [(v.name, v.shown) for v in book.vars("team/app")] == [("TOKEN", MASK), ("VERSION", "1")]
    with pytest.raises(InvalidArgument):
        book.set_var("team/app", "BAD NAME", "x", secret=False)

    assert book.cancel(branch_build, "ann") == CANCELLED  # queued: cancelled at once
    assert state.build(branch_build).reason == "cancelled by ann"
    running = state.claim_next()
    assert running.id == tag_build
    assert book.cancel(tag_build, "bob") == "running" and book.cancel_requests([tag_build]) == {tag_build: "bob"}
    with pytest.raises(Conflict):
        book.cancel(branch_build, "ann")
    book.remove_rule("team/app", own.id)
    with pytest.raises(Conflict):  # the last rule goes with its source
        book.remove_rule("team/app", tag_rule.id)
    with pytest.raises(NotFound):
        book.remove_rule("team/app", 999)


def test_bases_are_the_default_registry_images_of_the_from_lines():
    text = ("ARG V=bookworm\nFROM debian:${V} AS base\nFROM base\nFROM busybox\nFROM scratch\n"
            "FROM quay.example/x/y:1\nFROM team/tool:2\n")
    found = [(b.name, b.repo, b.reference) for b in library.bases(text, {})]
    assert found == [("debian:bookworm", "library/debian", "bookworm"), ("busybox", "library/busybox", "latest"),
                     ("team/tool:2", "team/tool", "2")]
    assert [b.reference for b in library.bases(text, {"V": "trixie"})][0] == "trixie"
    assert "hub library bootstrap busybox" in library.missing_hint(["busybox"])


def test_failing_log_line_is_the_last_step_announced():
    lines = ["build 1", "Step 1/3 : FROM busybox", "Step 2/3 : RUN exit 3", "oops", "==> failed"]
    assert failing_log_line(lines) == 2
    assert failing_log_line(["nothing here"]) is None


def test_hook_spools_pushes_and_a_drain_queues_each_once(tmp_path):
    import subprocess

    from dockyard.hub import hooks
    from dockyard.hub.builds.spool import drain, spool_dir

    root = tmp_path / "hub"
    state = HubState(root)
    state.add_source(Source("team/app", "/nowhere", "main", "Dockerfile", ".", "latest", ""))
    bare = tmp_path / "app.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    hook = hooks.install_hook(bare, root, "team/app")
    pushed = (f"{'0' * 40} {SHA} refs/heads/main\n{'0' * 40} {SHA} refs/pull/1/head\n"
              f"{SHA} {'0' * 40} refs/heads/gone\n")
    out = subprocess.run([str(hook)], input=pushed, capture_output=True, text=True, check=True).stdout
    assert "queued for building" in out
    [spooled] = list(spool_dir(root).iterdir())
    assert spooled.read_text() == f"team/app {SHA} refs/heads/main\n"  # no pull refs, no deletions
    (spool_dir(root) / "0-1.push").write_text(f"other/app {SHA} refs/heads/main\n")  # a source since removed
    book = BuildBook(state)
    [build_id] = drain(book)
    assert state.build(build_id).branch == "main" and drain(book) == []
    assert list(spool_dir(root).iterdir()) == []
