"""Build rules: which pushed branches and tags a source builds, from which Dockerfile, to which tags.

As on Docker Hub, a rule has a source type (`branch` or `tag`), a source that is a name or a
regular expression written between slashes (`/^v([0-9]+)\\.([0-9]+)\\.([0-9]+)$/`), the
Dockerfile and context paths, and a tag template (see dockyard.hub.tagrule) where `{sourceref}`
is the pushed name and `{\\1}`... are the expression's groups. A push may match several rules;
each queues a build of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.hub import tagrule

BRANCH, TAG = "branch", "tag"
REF_PREFIX = {BRANCH: "refs/heads/", TAG: "refs/tags/"}
# The release rule `hub source add --release-tags` adds: v1.2.3 (or 1.2.3) -> 1.2.3, 1.2, latest.
RELEASE_PATTERN = r"/^v?([0-9]+)\.([0-9]+)\.([0-9]+)$/"
RELEASE_TAGS = r"{\1}.{\2}.{\3},{\1}.{\2},latest"


@dataclass(frozen=True)
class Rule:
    id: int  # 0: the rule a source without rules of its own has (its branch, Dockerfile, tag rule)
    repo: str
    source_type: str
    source: str
    dockerfile: str
    context: str
    tags: str

    @property
    def is_regex(self) -> bool:
        return len(self.source) > 1 and self.source.startswith("/") and self.source.endswith("/")

    def pattern(self) -> re.Pattern:
        return re.compile(self.source[1:-1])

    def match(self, ref: str) -> tuple[str, tuple[str | None, ...]] | None:
        """(name, regex groups) if `ref` (`refs/heads/x` or `refs/tags/y`) is built by this rule."""
        prefix = REF_PREFIX[self.source_type]
        if not ref.startswith(prefix):
            return None
        name = ref.removeprefix(prefix)
        if not self.is_regex:
            return (name, ()) if name == self.source else None
        m = self.pattern().search(name)
        return (name, m.groups()) if m else None

    def tags_for(self, ref_name: str, sha: str, groups: tuple[str | None, ...] = ()) -> list[str]:
        return tagrule.expand(self.tags, ref_name, sha, groups)

    @property
    def label(self) -> str:
        return f"{self.source_type} {self.source} -> {self.tags}"


def validate(source_type: str, source: str, dockerfile: str, context: str, tags: str) -> None:
    """One-line errors for a rule that could never build: bad type, bad expression, bad template."""
    if source_type not in REF_PREFIX:
        raise InvalidArgument(f"unknown source type {source_type!r}: use branch or tag")
    if not source.strip():
        raise InvalidArgument("a rule needs a branch or tag name, or a /regular expression/")
    rule = Rule(0, "", source_type, source, dockerfile, context, tags)
    groups = 0
    if rule.is_regex:
        try:
            groups = rule.pattern().groups
        except re.error as exc:
            raise InvalidArgument(f"invalid regular expression {source}: {exc}") from None
    for path, what in ((dockerfile, "Dockerfile"), (context, "context")):
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise InvalidArgument(f"{what} path {path!r} must be relative and stay inside the repository")
    tagrule.validate_rule(tags)
    for field in re.findall(r"\{\\(\d+)\}", tags):
        if not 1 <= int(field) <= groups:
            raise InvalidArgument(f"tag template {tags!r} uses {{\\{field}}} but {source!r} has {groups} group(s)")
