"""Search over the hub's repositories, in the shape of Docker's `GET /v1/search`.

    GET /v1/search?q=TERM&n=25&page=1
    {"query": "TERM", "num_results": 3, "num_pages": 1, "page": 1, "page_size": 25,
     "results": [{"name": "team/app", "description": "...", "star_count": 2,
                  "is_official": false, "is_automated": true}, ...]}

That is what `docker search HOST/TERM` (through the engine) and `dockyard search` ask for.
A private repository is found only by those who may pull it. `is_official` marks the
`library/` namespace, `is_automated` a repository the hub builds from git.
"""

from __future__ import annotations

from typing import Callable

from dockyard.errors import InvalidArgument
from dockyard.hub.discovery.info import RepoInfo

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
MAX_TERM = 255


def _positive(text: str | None, default: int, name: str, most: int | None = None) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or int(text) < 1 or (most is not None and int(text) > most):
        raise InvalidArgument(f"{name} must be a whole number from 1{f' to {most}' if most else ' up'}, not {text[:40]!r}")
    return int(text)


def search(info: RepoInfo, term: str, may_see: Callable[[str], bool], automated: frozenset[str],
           page: str | None = None, n: str | None = None) -> dict:
    """One page of results for `term` as /v1/search answers; InvalidArgument for a bad term, page or n."""
    term = term.strip()
    if not term or len(term) > MAX_TERM:
        raise InvalidArgument(f"the search term must have 1 to {MAX_TERM} characters")
    size = _positive(n, DEFAULT_PAGE_SIZE, "n", MAX_PAGE_SIZE)
    number = _positive(page, 1, "page")
    found = [(r, d) for r, d in info.matching(term) if may_see(r)]
    start = (number - 1) * size
    stars = info.star_counts()
    results = [{"name": r, "description": d, "star_count": stars.get(r, 0), "is_official": r.startswith("library/"),
                "is_automated": r in automated} for r, d in found[start:start + size]]
    return {"query": term, "num_results": len(found), "num_pages": -(-len(found) // size), "page": number,
            "page_size": size, "results": results}
