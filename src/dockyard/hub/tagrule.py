"""Tag rules: which tags a build of a commit gets, e.g. `latest`, `{branch}`, `{branch}-{short_sha}`.

A rule is a comma-separated list; each item may use `{branch}` and `{short_sha}`. Branch names
may hold characters a tag may not (`feature/x`), so those become `-`.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument
from dockyard.registry import names

DEFAULT_RULE = "latest"
_FIELDS = re.compile(r"\{([^{}]*)\}")
_NOT_TAG = re.compile(r"[^A-Za-z0-9_.-]+")


def validate_rule(rule: str) -> str:
    """The rule itself if every placeholder is known; one clear error otherwise."""
    for field in _FIELDS.findall(rule):
        if field not in ("branch", "short_sha"):
            raise InvalidArgument(f"unknown placeholder {{{field}}} in tag rule {rule!r}: use {{branch}} or {{short_sha}}")
    if not any(item.strip() for item in rule.split(",")):
        raise InvalidArgument("the tag rule names no tag")
    return rule


def expand(rule: str, branch: str, sha: str) -> list[str]:
    """The tags of one build, in rule order without duplicates; InvalidArgument if one is not a valid tag."""
    values = {"branch": _NOT_TAG.sub("-", branch).strip(".-") or "branch", "short_sha": sha[:7]}
    tags: list[str] = []
    for item in validate_rule(rule).split(","):
        tag = _FIELDS.sub(lambda m: values[m.group(1)], item.strip())
        if not tag:
            continue
        if not names.is_valid_tag(tag):
            raise InvalidArgument(f"tag rule {rule!r} gives {tag!r}, which is not a valid tag")
        if tag not in tags:
            tags.append(tag)
    return tags
