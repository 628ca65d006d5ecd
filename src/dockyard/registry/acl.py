"""Who may do what on which repositories, for the token service.

An access-control file has one rule a line, `ACCOUNT PATTERN ACTIONS`:

    # account     repositories   actions
    alice         *              pull,push,delete
    *             {user}/*       pull,push      # every user owns their namespace
    *             *              pull
    anonymous     public/*       pull

ACCOUNT is a user name, `*` (any authenticated user) or `anonymous`. PATTERN is a shell-style
glob over repository names, in which `{user}` stands for the requesting user. ACTIONS are
`pull`, `push`, `delete` or `*`. A user gets the union of every rule that matches.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

ANONYMOUS = "anonymous"
ALL_ACTIONS = frozenset({"pull", "push", "delete"})


def _glob_escape(text: str) -> str:
    """`text` as a glob matching only itself (a user name must not widen a pattern)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


@dataclass(frozen=True)
class Rule:
    account: str
    pattern: str
    actions: frozenset[str]

    def grants(self, user: str | None, repository: str) -> frozenset[str]:
        if self.account == ANONYMOUS:
            applies = user is None
        else:
            applies = user is not None and self.account in ("*", user)
        pattern = self.pattern.replace("{user}", _glob_escape(user)) if user else self.pattern
        if not applies or "{user}" in pattern or not fnmatch.fnmatchcase(repository, pattern):
            return frozenset()
        return self.actions


def parse_rule(line: str, where: str = "rule") -> Rule:
    fields = line.split()
    if len(fields) != 3:
        raise InvalidArgument(f"{where}: expected 'ACCOUNT PATTERN ACTIONS', got {line!r}")
    actions = frozenset(a.strip() for a in fields[2].split(",") if a.strip())
    if "*" in actions:
        actions = ALL_ACTIONS
    unknown = actions - ALL_ACTIONS
    if unknown:
        raise InvalidArgument(f"{where}: unknown action(s) {', '.join(sorted(unknown))}")
    return Rule(fields[0], fields[1], actions)


def load_rules(path: str | os.PathLike) -> list[Rule]:
    rules = []
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if line:
                rules.append(parse_rule(line, f"{path}:{lineno}"))
    return rules


def allowed(rules: list[Rule], user: str | None, repository: str) -> frozenset[str]:
    """The actions `user` (None for anonymous) may perform on `repository`."""
    granted: frozenset[str] = frozenset()
    for rule in rules:
        granted |= rule.grants(user, repository)
    return granted
