"""Tag templates: which tags a build gets, e.g. `latest`, `{sourceref}`, `{\1}.{\2},latest`.

A template is a comma-separated list, as in a Docker Hub build rule's "Docker Tag" field.
Each item may use `{sourceref}` (the branch or tag name that was pushed), `{\\N}` (the N-th
group of the rule's regular expression), and `{branch}` / `{short_sha}` (the name again, and
the commit's first seven hex digits). Names may hold characters a tag may not (`feature/x`),
so those become `-`.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument
from dockyard.registry import names

DEFAULT_RULE = "latest"
_FIELDS = re.compile(r"\{([^{}]*)\}")
_GROUP = re.compile(r"\\(\d+)")
_NAMED = ("sourceref", "branch", "short_sha")
_NOT_TAG = re.compile(r"[^A-Za-z0-9_.-]+")


def validate_rule(rule: str) -> str:
    """The template itself if every placeholder is known; one clear error otherwise."""
    for field in _FIELDS.findall(rule):
        if field not in _NAMED and not _GROUP.fullmatch(field):
            raise InvalidArgument(f"unknown placeholder {{{field}}} in tag rule {rule!r}: "
                                  "use {sourceref}, {\\1}..., {branch} or {short_sha}")
    if not any(item.strip() for item in rule.split(",")):
        raise InvalidArgument("the tag rule names no tag")
    return rule


def _tag_text(text: str) -> str:
    return _NOT_TAG.sub("-", text).strip(".-")


def expand(rule: str, ref: str, sha: str, groups: tuple[str | None, ...] = ()) -> list[str]:
    """The tags of one build, in rule order without duplicates; InvalidArgument if one is not a valid tag."""
    values = {"sourceref": _tag_text(ref) or "ref", "branch": _tag_text(ref) or "branch", "short_sha": sha[:7]}

    def value(m: re.Match) -> str:
        group = _GROUP.fullmatch(m.group(1))
        if group is None:
            return values[m.group(1)]
        n = int(group.group(1))
        if n < 1 or n > len(groups):
            raise InvalidArgument(f"tag rule {rule!r} uses {{\\{n}}} but the rule's pattern has {len(groups)} group(s)")
        return _tag_text(groups[n - 1] or "")

    tags: list[str] = []
    for item in validate_rule(rule).split(","):
        tag = _FIELDS.sub(value, item.strip())
        if not tag:
            continue
        if not names.is_valid_tag(tag):
            raise InvalidArgument(f"tag rule {rule!r} gives {tag!r}, which is not a valid tag")
        if tag not in tags:
            tags.append(tag)
    return tags
