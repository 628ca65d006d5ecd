"""What queues builds: a pushed ref (git hook or webhook) and "build now" (CLI or the page's button).

A push of `refs/heads/B` or `refs/tags/T` queues one build for every rule of the source that
matches it. "Build now" builds a rule's branch or tag at the commit the repository has for it
now (`git ls-remote`); for a rule with a regular expression, the matching ref that sorts last
(tags `v1.10.0` after `v1.9.2`).
"""

from __future__ import annotations

import re
import subprocess

from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.hub.builds.rules import REF_PREFIX, Rule
from dockyard.hub.builds.store import BuildBook

LS_REMOTE_TIMEOUT = 60


def queue_push(book: BuildBook, repo: str, ref: str, sha: str, trigger: str = "push") -> list[tuple[int, Rule]]:
    """Queue a build per rule matching `ref` (a bare name counts as a branch); returns (build, rule) pairs."""
    if not ref.startswith("refs/"):
        ref = REF_PREFIX["branch"] + ref
    queued = []
    for rule in book.rules(repo):
        matched = rule.match(ref)
        if matched is not None:
            queued.append((book.enqueue(repo, sha, matched[0], rule, trigger), rule))
    return queued


def _version_key(name: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name) if p]


def remote_refs(git_url: str) -> dict[str, str]:
    """ref -> commit of a repository's branches and tags (annotated tags peeled)."""
    try:
        proc = subprocess.run(["git", "ls-remote", "--heads", "--tags", git_url], capture_output=True, text=True,
                              timeout=LS_REMOTE_TIMEOUT, env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        raise DockyardError(f"git ls-remote {git_url} took longer than {LS_REMOTE_TIMEOUT} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DockyardError(f"cannot list the refs of {git_url}: {tail}")
    refs: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.endswith("^{}"):
            refs[ref[:-3]] = sha  # the commit an annotated tag points at
        else:
            refs.setdefault(ref, sha)
    return refs


def build_now(book: BuildBook, repo: str, who: str, rule_id: int | None = None) -> list[tuple[int, Rule, str]]:
    """Queue a build of every rule (or one) at the repository's current commit; returns (build, rule, ref name)."""
    rules = book.rules(repo) if rule_id is None else [book.rule(repo, rule_id)]
    refs = remote_refs(book.state.source(repo).git_url)
    queued = []
    for rule in rules:
        found = sorted(((m[0], sha) for ref, sha in refs.items() if (m := rule.match(ref)) is not None),
                       key=lambda item: _version_key(item[0]))
        if not found:
            if rule_id is not None:
                raise NotFound(f"the repository has no {rule.source_type} matching {rule.source}")
            continue
        name, sha = found[-1]
        queued.append((book.enqueue(repo, sha, name, rule, f"manual ({who})"), rule, name))
    if not queued:
        raise InvalidArgument(f"no branch or tag of {repo}'s repository matches any of its build rules")
    return queued
