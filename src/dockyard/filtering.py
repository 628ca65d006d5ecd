"""docker's filter terms as every kind of object takes them: a name term (exact or a regular
expression, Go's filters.Match), a label term, and the prune endpoints' `until`, `label` and
`label!`, checked and applied alike for containers, images, networks and volumes."""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument


def check(filters: dict[str, list[str]], allowed: tuple[str, ...]) -> None:
    """Refuse a key this prune does not take, or an `until` that is no time, with dockerd's words."""
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")
    if "until" in filters:
        from dockyard.containers.views import parse_time
        for value in filters["until"]:
            parse_time(value)


def selects(filters: dict[str, list[str]], labels: dict[str, str] | None, created: float) -> bool:
    """Whether an object with these labels, created at this unix time, is one the prune may
    remove: created before every `until`, matching every `label`, and not matching all `label!`."""
    if "until" in filters:
        from dockyard.containers.views import parse_time
        if not all(created < parse_time(v) for v in filters["until"]):
            return False
    labels = labels or {}
    if not all(label_matches(labels, f) for f in filters.get("label", ())):
        return False
    excluded = filters.get("label!", ())
    return not (excluded and all(label_matches(labels, f) for f in excluded))


def label_matches(labels: dict[str, str], wanted: str) -> bool:
    """`key` (present) or `key=value` (present with that value), as docker's label filters mean."""
    key, eq, value = wanted.partition("=")
    return key in labels and (not eq or labels[key] == value)


def term_matches(term: str, source: str) -> bool:
    """A name filter's term: the whole source, or a regular expression found in it (one that
    does not compile matches nothing, as in dockerd)."""
    if term == source:
        return True
    try:
        return re.search(term, source) is not None
    except re.error:
        return False
