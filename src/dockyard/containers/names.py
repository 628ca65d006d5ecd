"""Container names: validation and docker-style generated names (`adjective_surname`)."""

from __future__ import annotations

import random
import re

from dockyard.errors import InvalidArgument

_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_LEFT = ("admiring", "agitated", "amazing", "awesome", "bold", "brave", "busy", "charming", "clever", "cool",
         "dazzling", "determined", "eager", "ecstatic", "elegant", "epic", "festive", "focused", "friendly",
         "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "laughing", "lucid", "magical",
         "modest", "nice", "nifty", "optimistic", "peaceful", "practical", "quirky", "relaxed", "serene",
         "sharp", "stoic", "sweet", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous")
_RIGHT = ("albattani", "archimedes", "babbage", "bell", "bohr", "curie", "darwin", "dijkstra", "einstein",
          "euclid", "fermat", "feynman", "galileo", "gauss", "goldberg", "hamilton", "hopper", "hypatia",
          "kepler", "knuth", "lamarr", "lovelace", "mccarthy", "meitner", "newton", "noether", "pascal",
          "poincare", "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing", "wilson", "wozniak")


def validate(name: str) -> str:
    """The name without docker's optional leading slash, or a clear error."""
    if not _NAME_RE.match(name):
        raise InvalidArgument(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    return name.lstrip("/")


def generate(taken: set[str]) -> str:
    rng = random.SystemRandom()
    for attempt in range(1000):
        name = f"{rng.choice(_LEFT)}_{rng.choice(_RIGHT)}"
        if attempt >= 10:
            name += str(rng.randint(0, 99))
        if name not in taken:
            return name
    raise InvalidArgument("could not generate a free container name; give one with --name")
