"""jsonwrite.dumps writes json.dumps's text (indented or not) without importing json."""

from __future__ import annotations

import json
import random

import pytest

from dockyard.jsonwrite import dumps


class Text(str):
    pass


CASES = [None, True, False, 0, -5, 10**30, 1.5, 1e300, -0.0, "", "é☃😀\"\\\n\t\x00<>&", [], {}, [[]], {"a": {}},
         (1, 2), [1, [2, [3, {}]]], {"k": [1, "x", None, {"z": [True, False, 2.25]}], "e": [], "d": {}},
         {1: 2}, {None: 1}, {True: 1}, float("nan"), {"x": float("inf")}, b"x", object(), Text("sub"),
         {"a": Text("b")}, 2**63]


@pytest.mark.parametrize("value", CASES, ids=range(len(CASES)))
@pytest.mark.parametrize("indent", [None, 4, 0])
def test_the_same_text_or_error_as_json(value, indent) -> None:
    def written(dump):
        try:
            return dump(value, indent=indent)
        except (TypeError, ValueError) as e:
            return type(e)
    assert written(dumps) == written(json.dumps)


def test_random_documents() -> None:
    rng = random.Random(19)

    def document(depth: int = 0):
        r = rng.random()
        if depth > 4 or r < 0.4:
            return rng.choice([None, True, 1, 2.5, "sé", "", -3])
        if r < 0.7:
            return [document(depth + 1) for _ in range(rng.randint(0, 4))]
        return {f"k{i}ü": document(depth + 1) for i in range(rng.randint(0, 4))}

    for _ in range(500):
        doc = document()
        assert dumps(doc, indent=4) == json.dumps(doc, indent=4) and dumps(doc) == json.dumps(doc)
